// Package admintest logs into the app's admin area over HTTP the way a
// browser does, for tests that need proof the app serves its users.
package admintest

import (
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

// Login logs email in through the login form at base (http://host:port)
// and reports whether it reached the dashboard, with the last page's body.
// The test fails only when the app doesn't answer or shows no form.
func Login(t testing.TB, base, email, password string) (bool, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: httpsJar{jar}, Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("login form (%d) has no CSRF field:\n%s", resp.StatusCode, b)
	}
	resp, err = c.PostForm(base+"/admin/login", url.Values{"email": {email}, "password": {password}, "csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200 && resp.Request.URL.Path == "/admin", string(b)
}
