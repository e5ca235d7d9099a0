package admin

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/clientip"
	"github.com/slipway-dev/slipway/internal/users"
	"github.com/slipway-dev/slipway/internal/version"
)

// Cookie names, before the __Host- prefix that secure cookies get: it
// makes the browser refuse the cookie unless it is Secure, Path=/ and has
// no Domain, so neither a sibling subdomain nor plain http can plant one.
const (
	SessionCookie = "slipway_session"
	CSRFCookie    = "slipway_csrf"
	DeviceCookie  = "slipway_device"
	// EnrolCookie holds the token of an EnrolLink until the login: apart
	// from DeviceCookie, so a link followed from another site can't
	// overwrite a browser's device cookie.
	EnrolCookie = "slipway_enrol"
)

// CookieName is the name a cookie has: base with the __Host- prefix, or
// bare when insecure (plain http, where browsers refuse the prefix).
func CookieName(base string, insecure bool) string {
	if insecure {
		return base
	}
	return "__Host-" + base
}

// MaxFormBytes bounds a login or logout form: an email, a password of at
// most 1024 characters and a token fit many times over.
const MaxFormBytes = 8 << 10

// maxLoggedEmail is how much of a typed email a log line or the page shows.
const maxLoggedEmail = 100

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Migration is one applied migration as the dashboard shows it.
type Migration struct {
	Version   int64
	AppliedAt time.Time
}

// Options are the admin area's settings from the app's configuration.
type Options struct {
	// Proxies are the reverse proxies whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES).
	Proxies clientip.Proxies
	// InsecureCookies drops Secure and the __Host- prefix (COOKIE_INSECURE):
	// for plain http on loopback only.
	InsecureCookies bool
	// Front bounds login posts in memory, before the database (front.go);
	// zero is DefaultFrontLimits.
	Front FrontLimits
}

// Handlers serves the admin area.
type Handlers struct {
	auth     *Auth
	db       *pgxpool.Pool
	log      *slog.Logger
	version  version.Info
	opts     Options
	front    *front
	disabled string
}

// New returns the admin area's handlers.
func New(auth *Auth, db *pgxpool.Pool, log *slog.Logger, v version.Info, o Options) *Handlers {
	return &Handlers{auth: auth, db: db, log: log, version: v, opts: o, front: newFront(o.Front)}
}

// Disabled returns handlers that answer 503 with reason: the app serves the
// rest without an admin area rather than not starting.
func Disabled(reason string) *Handlers { return &Handlers{disabled: reason} }

func (h *Handlers) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "same-origin")
		if h.opts.Proxies.Client(r).HTTPS {
			// Only over https (real TLS, or a trusted proxy's
			// X-Forwarded-Proto): over http the header means nothing.
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		if h.disabled != "" {
			http.Error(w, "admin area disabled: "+h.disabled, http.StatusServiceUnavailable)
			return
		}
		next(w, r)
	})
}

// LoginForm is GET /admin/login. With ?device= (an EnrolLink) it keeps
// the token in EnrolCookie and redirects to the bare form, so the token
// leaves the address bar before anyone types a password.
func (h *Handlers) LoginForm() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("device"); v != "" {
			if strings.HasPrefix(v, "enrol.") && len(v) <= 200 {
				h.setCookie(w, EnrolCookie, v, EnrolTTL, http.SameSiteStrictMode)
			}
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		h.render(w, r, http.StatusOK, "login.html", map[string]any{"CSRF": h.csrfToken(w, r)})
	})
}

// Login is POST /admin/login. What can't be a login (not a small
// url-encoded form, no valid CSRF token) is refused before the database,
// and so is whatever the front limiter refuses: a flood of posts costs
// neither a pool connection nor an advisory lock (front.go).
func (h *Handlers) Login() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		client := clientip.Bucket(h.opts.Proxies.Client(r).Addr)
		now := time.Now()
		if code, msg := h.readForm(w, r); code != 0 {
			h.front.garbage(client, now)
			h.log.Debug("admin login refused", "client", client, "reason", msg)
			http.Error(w, msg, code)
			return
		}
		if !h.validCSRF(r) {
			h.front.garbage(client, now)
			h.log.Debug("admin login refused", "client", client, "reason", "no valid CSRF token")
			http.Error(w, "invalid or missing CSRF token: reload the login form and try again", http.StatusForbidden)
			return
		}
		email := r.PostForm.Get("email")
		creds := Credentials{Email: email, Password: r.PostForm.Get("password"), Client: client}
		device := ""
		for _, name := range []string{EnrolCookie, DeviceCookie} { // a fresh link first: the device cookie may be one a reset ended
			if c, err := r.Cookie(h.cookieName(name)); err == nil && device == "" {
				creds.DeviceCookie, device = c.Value, h.auth.knownDevice(c.Value, email, now)
			}
		}
		err := h.front.allow(client, device, now)
		var sess Session
		if err == nil {
			sess, err = h.auth.Login(r.Context(), creds)
		}
		if err != nil {
			code, msg := h.refusal(w, err)
			h.log.Info("admin login refused", "email", bounded(email), "client", client, "reason", msg)
			h.render(w, r, code, "login.html", map[string]any{"CSRF": h.csrfToken(w, r), "Error": msg, "Email": bounded(email),
				"LockedOut": code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable})
			return
		}
		h.log.Info("admin logged in", "email", bounded(email), "client", client)
		h.setCookie(w, SessionCookie, sess.Token, DefaultSession, http.SameSiteLaxMode)
		h.setCookie(w, DeviceCookie, sess.Device, DeviceTTL, http.SameSiteStrictMode)
		if _, err := r.Cookie(h.cookieName(EnrolCookie)); err == nil {
			h.setCookie(w, EnrolCookie, "", -1, http.SameSiteStrictMode)
		}
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
	})
}

// refusal maps a Login error to its status and message, setting
// Retry-After where waiting helps.
func (h *Handlers) refusal(w http.ResponseWriter, err error) (int, string) {
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(roundUp(rl.RetryAfter).Seconds())))
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, ErrBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(roundUp(h.auth.gate.RetryAfter()).Seconds())))
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrBadCredentials):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "request cancelled" // the client left
	}
	h.log.Error("login failed", "err", err)
	return http.StatusInternalServerError, "login is unavailable right now"
}

// readForm accepts only a small url-encoded form: multipart would be
// spooled to disk, and nothing here needs more than MaxFormBytes. It
// returns 0 when the form was read, else the status and the reason.
func (h *Handlers) readForm(w http.ResponseWriter, r *http.Request) (int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return http.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded"
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "form too large"
		}
		return http.StatusBadRequest, "malformed form"
	}
	return 0, ""
}

// bounded is what of a typed email may be logged or shown again: at most
// maxLoggedEmail characters, control characters replaced. Passwords are
// never logged at all.
func bounded(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if r := []rune(s); len(r) > maxLoggedEmail {
		return string(r[:maxLoggedEmail]) + "…"
	}
	return s
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
			"Email": u.Email, "Version": h.version, "Migrations": ms, "CSRF": h.csrfToken(w, r)})
	})
}

// Logout is POST /admin/logout.
func (h *Handlers) Logout() http.Handler {
	return h.guard(func(w http.ResponseWriter, r *http.Request) {
		if code, msg := h.readForm(w, r); code != 0 {
			http.Error(w, msg, code)
			return
		}
		if !h.validCSRF(r) {
			http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		if c, err := r.Cookie(h.cookieName(SessionCookie)); err == nil {
			if err := h.auth.Logout(r.Context(), c.Value); err != nil {
				h.log.Error("logout", "err", err)
			}
		}
		h.setCookie(w, SessionCookie, "", -1, http.SameSiteLaxMode)
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
	})
}

func (h *Handlers) user(r *http.Request) (users.User, bool) {
	c, err := r.Cookie(h.cookieName(SessionCookie))
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

func (h *Handlers) cookieName(base string) string { return CookieName(base, h.opts.InsecureCookies) }

// setCookie sets an HttpOnly cookie for the whole site; maxAge < 0 deletes it.
func (h *Handlers) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration, same http.SameSite) {
	c := &http.Cookie{Name: h.cookieName(base), Value: value, Path: "/", HttpOnly: true,
		Secure: !h.opts.InsecureCookies, SameSite: same}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge.Seconds())
	}
	http.SetCookie(w, c)
}

// csrfToken returns a form token signed for the browser's pre-session id
// (the CSRF cookie), setting a new id when the browser has none. A
// cross-site page can make the browser send the cookie but can't read the
// token; a script can't make up a pair, because only the server signs.
func (h *Handlers) csrfToken(w http.ResponseWriter, r *http.Request) string {
	id := ""
	if c, err := r.Cookie(h.cookieName(CSRFCookie)); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		id = c.Value
	} else {
		id = randomToken()
		h.setCookie(w, CSRFCookie, id, 0, http.SameSiteStrictMode)
	}
	return h.auth.CSRFToken(id)
}

func (h *Handlers) validCSRF(r *http.Request) bool {
	c, err := r.Cookie(h.cookieName(CSRFCookie))
	return err == nil && h.auth.ValidCSRF(c.Value, r.PostForm.Get("csrf"))
}
