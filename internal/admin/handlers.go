package admin

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/users"
	"github.com/slipway-dev/slipway/internal/version"
)

// Cookie names.
const (
	SessionCookie = "slipway_session"
	CSRFCookie    = "slipway_csrf"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Migration is one applied migration as the dashboard shows it.
type Migration struct {
	Version   int64
	AppliedAt time.Time
}

// Handlers serves the admin area.
type Handlers struct {
	auth     *Auth
	db       *pgxpool.Pool
	log      *slog.Logger
	version  version.Info
	disabled string
}

// New returns the admin area's handlers.
func New(auth *Auth, db *pgxpool.Pool, log *slog.Logger, v version.Info) *Handlers {
	return &Handlers{auth: auth, db: db, log: log, version: v}
}

// Disabled returns handlers that answer 503 with reason: the app serves the
// rest without an admin area rather than not starting.
func Disabled(reason string) *Handlers { return &Handlers{disabled: reason} }

func (h *Handlers) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
		if h.disabled != "" {
			http.Error(w, "admin area disabled: "+h.disabled, http.StatusServiceUnavailable)
			return
		}
		next(w, r)
	})
}

// LoginForm is GET /admin/login.
func (h *Handlers) LoginForm() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusOK, "login.html", map[string]any{"CSRF": csrfToken(w, r)})
	})
}

// Login is POST /admin/login.
func (h *Handlers) Login() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		if !validCSRF(r) {
			http.Error(w, "invalid or missing CSRF token: reload the login form and try again", http.StatusForbidden)
			return
		}
		email := r.PostFormValue("email")
		token, err := h.auth.Login(r.Context(), email, r.PostFormValue("password"), clientIP(r))
		if err != nil {
			code := http.StatusUnauthorized
			switch {
			case errors.Is(err, ErrRateLimited):
				code = http.StatusTooManyRequests
			case !errors.Is(err, ErrBadCredentials):
				h.log.Error("login failed", "err", err)
				code, err = http.StatusInternalServerError, errors.New("login is unavailable right now")
			}
			h.log.Info("admin login refused", "email", email, "ip", clientIP(r), "reason", err.Error())
			h.render(w, r, code, "login.html", map[string]any{"CSRF": csrfToken(w, r), "Error": err.Error(), "Email": email})
			return
		}
		h.log.Info("admin logged in", "email", email, "ip", clientIP(r))
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/admin", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(DefaultSession.Seconds())})
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
	})
}

// Dashboard is GET /admin: the running version and the applied migrations.
func (h *Handlers) Dashboard() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		u, ok := h.user(r)
		if !ok {
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		ms, err := h.migrations(r.Context())
		if err != nil {
			h.log.Error("list migrations", "err", err)
			http.Error(w, "could not list migrations", http.StatusInternalServerError)
			return
		}
		h.render(w, r, http.StatusOK, "dashboard.html", map[string]any{
			"Email": u.Email, "Version": h.version, "Migrations": ms, "CSRF": csrfToken(w, r)})
	})
}

// Logout is POST /admin/logout.
func (h *Handlers) Logout() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		if !validCSRF(r) {
			http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		if c, err := r.Cookie(SessionCookie); err == nil {
			if err := h.auth.Logout(r.Context(), c.Value); err != nil {
				h.log.Error("logout", "err", err)
			}
		}
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/admin", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
	})
}

func (h *Handlers) user(r *http.Request) (users.User, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return users.User{}, false
	}
	u, err := h.auth.Session(r.Context(), c.Value)
	return u, err == nil
}

func (h *Handlers) migrations(ctx context.Context) ([]Migration, error) {
	rows, err := h.db.Query(ctx, `SELECT version_id, max(tstamp) FROM goose_db_version
		WHERE version_id > 0 AND is_applied GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []Migration
	for rows.Next() {
		var m Migration
		if err := rows.Scan(&m.Version, &m.AppliedAt); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

func (h *Handlers) render(w http.ResponseWriter, r *http.Request, code int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.log.Error("render", "page", name, "err", err)
	}
}

// csrfToken returns the request's CSRF token, setting the cookie when the
// browser has none. Double-submit: a cross-site page can make the browser
// send the cookie but can't read it to put it in the form.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: t, Path: "/admin", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return t
}

func validCSRF(r *http.Request) bool {
	c, err := r.Cookie(CSRFCookie)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// clientIP is the peer address. Behind a reverse proxy every client shares
// the proxy's address, so the per-IP limit then limits the proxy as a whole.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
