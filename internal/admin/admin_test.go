package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/clientip"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/internal/syncbuf"
	"github.com/slipway-dev/slipway/internal/users"
	"github.com/slipway-dev/slipway/internal/version"
	"github.com/slipway-dev/slipway/internal/web"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	pepper = "test-pepper-0123456789"
	email  = "ada@example.com"
	pw     = "correct horse battery staple"
)

var cheap = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type site struct {
	srv  *httptest.Server
	pool *pgxpool.Pool
	logs *syncbuf.Buffer
	auth *admin.Auth
}

// newSite serves the app's real routes over a fresh database with one
// admin: over TLS with the production cookies, or over plain http with the
// dev target's COOKIE_INSECURE.
func newSite(t *testing.T, useTLS bool) *site {
	t.Helper()
	return newSiteWith(t, siteOptions{tls: useTLS, insecureCookies: !useTLS})
}

type siteOptions struct {
	tls             bool
	insecureCookies bool   // COOKIE_INSECURE
	proxies         string // TRUSTED_PROXIES
	auth            admin.AuthOptions
	front           admin.FrontLimits // zero: admin.DefaultFrontLimits
	poolMaxConns    int               // 0: pgx's default
}

func newSiteWith(t *testing.T, o siteOptions) *site {
	t.Helper()
	pool := pgtest.Pool(t)
	if o.poolMaxConns > 0 {
		u, _ := url.Parse(pgtest.URL(t))
		q := u.Query()
		q.Set("pool_max_conns", strconv.Itoa(o.poolMaxConns))
		u.RawQuery = q.Encode()
		pool = pgtest.PoolFor(t, u.String())
	}
	h, err := password.New(pepper, cheap)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := h.Hash(pw)
	if _, err := users.NewStore(pool).CreateAdmin(context.Background(), email, hash); err != nil {
		t.Fatal(err)
	}
	auth, err := admin.NewAuth(pool, h, o.auth)
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := clientip.ParseProxies(o.proxies)
	if err != nil {
		t.Fatal(err)
	}
	// The server's goroutines log concurrently.
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	handler := web.NewServer(web.Deps{Log: log, Ready: func(context.Context) error { return nil },
		Version: version.Info{Version: "v9.9.9", Commit: "cafebabe"}, Admin: admin.New(auth, pool, log, version.Info{Version: "v9.9.9", Commit: "cafebabe"},
			admin.Options{Proxies: proxies, InsecureCookies: o.insecureCookies, Front: o.front})})
	s := &site{pool: pool, logs: logs, auth: auth}
	if o.tls {
		s.srv = httptest.NewTLSServer(handler)
	} else {
		s.srv = httptest.NewServer(handler)
	}
	t.Cleanup(s.srv.Close)
	return s
}

// browser is a client with cookies that doesn't follow redirects.
func (s *site) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	// A copy: srv.Client() returns one shared client, and each browser
	// needs its own cookie jar.
	cp := *s.srv.Client()
	c := &cp
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (s *site) csrf(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get(s.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no csrf field on %s (%d): %s", path, resp.StatusCode, b)
	}
	return string(m[1])
}

func (s *site) login(t *testing.T, c *http.Client, pass string) *http.Response {
	t.Helper()
	token := s.csrf(t, c, "/admin/login")
	resp, err := c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {email}, "password": {pass}, "csrf": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func body(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLoginDashboardLogout(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	if code, _ := body(t, c, s.srv.URL+"/admin"); code != http.StatusSeeOther {
		t.Errorf("/admin without a session: %d, want a redirect to the login", code)
	}
	resp := s.login(t, c, pw)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == admin.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Errorf("session cookie with COOKIE_INSECURE: %+v, want HttpOnly, SameSite=Lax, not Secure, no __Host- prefix", session)
	}
	code, page := body(t, c, s.srv.URL+"/admin")
	if code != 200 || !strings.Contains(page, "v9.9.9") || !strings.Contains(page, "cafebabe") || !strings.Contains(page, "<td>1</td>") || !strings.Contains(page, "<td>2</td>") {
		t.Errorf("dashboard %d should show version, commit and migrations 1 and 2:\n%s", code, page)
	}
	token := csrfField.FindStringSubmatch(page)[1]
	resp, err := c.PostForm(s.srv.URL+"/admin/logout", url.Values{"csrf": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	// The old cookie is dead server-side too, not just deleted in the browser.
	replay := s.browser(t)
	u, _ := url.Parse(s.srv.URL + "/admin")
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: admin.SessionCookie, Value: session.Value, Path: "/"}})
	if code, _ := body(t, replay, s.srv.URL+"/admin"); code != http.StatusSeeOther {
		t.Errorf("replayed session after logout: %d, want redirect to login", code)
	}
	if strings.Contains(s.logs.String(), pw) {
		t.Errorf("password in logs:\n%s", s.logs.String())
	}
}

// TestCookiesAreSecureHostCookiesByDefault: the app sits behind a proxy
// and never sees TLS itself, so Secure can't depend on r.TLS.
func TestCookiesAreSecureHostCookiesByDefault(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	resp := s.login(t, c, pw)
	names := map[string]bool{}
	for _, ck := range resp.Cookies() {
		names[ck.Name] = true
		if !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly || !strings.HasPrefix(ck.Name, "__Host-") {
			t.Errorf("cookie %+v: want Secure, HttpOnly, Path=/, no Domain, __Host- prefix", ck)
		}
	}
	for _, base := range []string{admin.SessionCookie, admin.DeviceCookie} {
		if !names[admin.CookieName(base, false)] {
			t.Errorf("login set no %s cookie (got %v)", admin.CookieName(base, false), names)
		}
	}
	// Behind a proxy the request reaches the app over plain http: the
	// cookies are Secure all the same.
	s = newSiteWith(t, siteOptions{proxies: "127.0.0.1/32"})
	rec := httptest.NewRecorder()
	s.srv.Config.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/login", nil))
	if cks := rec.Result().Cookies(); len(cks) != 1 || !cks[0].Secure || cks[0].Name != admin.CookieName(admin.CSRFCookie, false) {
		t.Errorf("form served over plain http behind a proxy set %+v, want one Secure __Host- CSRF cookie", cks)
	}
}

func TestWrongPasswordAndUnknownEmail(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	if resp := s.login(t, c, "wrong horse battery staple"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	token := s.csrf(t, c, "/admin/login")
	resp, _ := c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {"eve@example.com"}, "password": {pw}, "csrf": {token}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown email: %d, want 401", resp.StatusCode)
	}
}

func TestCSRFRejected(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	s.csrf(t, c, "/admin/login") // the cookie is set, but the form lacks the token
	resp, err := c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, _ = c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {email}, "password": {pw}, "csrf": {strings.Repeat("A", 43)}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a forged CSRF token: %d, want 403", resp.StatusCode)
	}
	// A cross-site form post, as a browser labels it, is refused even with
	// a valid token.
	token := s.csrf(t, c, "/admin/login")
	req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(url.Values{"email": {email}, "password": {pw}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login post: %d, want 403", resp.StatusCode)
	}
}

// noDelays are the default limits without progressive delays, so a test
// can fail several times in a row.
func noDelays() admin.AuthOptions {
	l := admin.DefaultLimits
	l.DelayBase = 0
	return admin.AuthOptions{Limits: l}
}

func TestFailedLoginsAreLimitedPerEmail(t *testing.T) {
	s := newSiteWith(t, siteOptions{insecureCookies: true, auth: noDelays()})
	c := s.browser(t)
	for i := 0; i < admin.MaxPerEmail; i++ {
		if resp := s.login(t, c, "wrong horse battery staple"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := s.login(t, c, pw)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password after %d failures: %d, want 429", admin.MaxPerEmail, resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > int(admin.Window.Seconds()) {
		t.Errorf("Retry-After %q, want seconds until the window frees up", resp.Header.Get("Retry-After"))
	}
}

func TestFailedLoginsAreLimitedPerIP(t *testing.T) {
	s := newSite(t, false)
	c := s.browser(t)
	for i := 0; i < admin.MaxPerIP; i++ {
		token := s.csrf(t, c, "/admin/login")
		resp, _ := c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {"spray" + strings.Repeat("x", i) + "@example.com"}, "password": {pw}, "csrf": {token}})
		resp.Body.Close()
	}
	if resp := s.login(t, c, pw); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login after %d failures from one IP: %d, want 429", admin.MaxPerIP, resp.StatusCode)
	}
}

func TestDisabledWithoutPepper(t *testing.T) {
	h := web.NewServer(web.Deps{Log: slog.New(slog.DiscardHandler), Ready: func(context.Context) error { return nil }, Admin: admin.Disabled("PASSWORD_PEPPER is not set")})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/login", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "PASSWORD_PEPPER") {
		t.Errorf("%d %s", rec.Code, rec.Body.String())
	}
}
