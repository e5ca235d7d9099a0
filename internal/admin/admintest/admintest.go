// Package admintest logs into the app's admin area over HTTP the way a
// browser does, for tests that need proof the app serves its users.
package admintest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// httpsJar keeps cookies as a browser behind a TLS-terminating proxy does:
// the test reaches the app over plain http, the browser would use https,
// so the app's Secure __Host- cookies are kept and sent back.
type httpsJar struct{ http.CookieJar }

func asHTTPS(u *url.URL) *url.URL {
	c := *u
	c.Scheme = "https"
	return &c
}

func (j httpsJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.CookieJar.SetCookies(asHTTPS(u), cs) }
func (j httpsJar) Cookies(u *url.URL) []*http.Cookie        { return j.CookieJar.Cookies(asHTTPS(u)) }

// Browser returns a client that keeps the app's cookies as a browser
// behind a TLS-terminating proxy does. from, unless "", is sent as
// X-Forwarded-For on every request: the address a trusted proxy saw.
func Browser(from string) *http.Client {
	jar, _ := cookiejar.New(nil)
	var rt http.RoundTripper = http.DefaultTransport
	if from != "" {
		rt = forwardedFor{from}
	}
	return &http.Client{Jar: httpsJar{jar}, Timeout: 10 * time.Second, Transport: rt}
}

type forwardedFor struct{ addr string }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return http.DefaultTransport.RoundTrip(r)
}

// Login logs email in through the login form at base (http://host:port)
// from a new browser and reports whether it reached the dashboard, with
// the last page's body. The test fails only when the app doesn't answer or
// shows no form.
func Login(t testing.TB, base, email, password string) (bool, string) {
	t.Helper()
	return LoginWith(t, Browser(""), base, email, password)
}

// LoginWith is Login from browser c, which keeps the cookies it gets (the
// device cookie of a successful login among them).
func LoginWith(t testing.TB, c *http.Client, base, email, password string) (bool, string) {
	t.Helper()
	ok, page, err := TryLogin(c, base, email, password)
	if err != nil {
		t.Fatal(err)
	}
	return ok, page
}

// TryLogin is LoginWith that returns, rather than fails the test, when the
// app doesn't answer or shows no form.
func TryLogin(c *http.Client, base, email, password string) (bool, string, error) {
	resp, err := c.Get(base + "/admin/login")
	if err != nil {
		return false, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil {
		return false, string(b), fmt.Errorf("login form (%d) has no CSRF field:\n%s", resp.StatusCode, b)
	}
	resp, err = c.PostForm(base+"/admin/login", url.Values{"email": {email}, "password": {password}, "csrf": {string(m[1])}})
	if err != nil {
		return false, "", err
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200 && resp.Request.URL.Path == "/admin", string(b), nil
}
