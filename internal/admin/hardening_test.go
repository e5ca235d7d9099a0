package admin_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/admin"
)

// post sends a login form with a fresh CSRF token from c's own form.
func (s *site) post(t *testing.T, c *http.Client, form url.Values) *http.Response {
	t.Helper()
	form.Set("csrf", s.csrf(t, c, "/admin/login"))
	resp, err := c.PostForm(s.srv.URL+"/admin/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCSRFRefusesASelfChosenPair(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	self := strings.Repeat("A", 43)
	u, _ := url.Parse(s.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: admin.CookieName(admin.CSRFCookie, false), Value: self, Path: "/"}})
	resp, err := c.PostForm(s.srv.URL+"/admin/login", url.Values{"email": {email}, "password": {"wrong horse battery staple"}, "csrf": {self}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a self-chosen cookie and field: %d, want 403 before any password check", resp.StatusCode)
	}
}

// TestConcurrentGuessesGetAtMostTheLimitOfPasswordChecks fires 40 wrong
// guesses for one email at once: a 401 means the password was checked.
func TestConcurrentGuessesGetAtMostTheLimitOfPasswordChecks(t *testing.T) {
	s := newSite(t, true)
	const n = 40
	clients := make([]*http.Client, n)
	tokens := make([]string, n)
	for i := range clients {
		clients[i] = s.browser(t)
		tokens[i] = s.csrf(t, clients[i], "/admin/login")
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := clients[i].PostForm(s.srv.URL+"/admin/login", url.Values{"email": {email}, "password": {"wrong horse battery staple"}, "csrf": {tokens[i]}})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	checked, limited := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	if checked > admin.MaxPerEmail || checked+limited != n {
		t.Errorf("%d concurrent guesses: %d password checks (401), %d limited (429), want at most %d checks and the rest limited", n, checked, limited, admin.MaxPerEmail)
	}
}

// TestSprayFromOneAddressDoesNotLockOutAnotherAdmin: an admin who logged in
// before from this browser still gets in after someone behind the same
// address sprayed failures across many emails.
func TestSprayFromOneAddressDoesNotLockOutAnotherAdmin(t *testing.T) {
	s := newSite(t, true)
	admin2 := s.browser(t)
	if resp := s.login(t, admin2, pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	sprayer := s.browser(t)
	for i := 0; i < 25; i++ {
		s.post(t, sprayer, url.Values{"email": {"spray" + strings.Repeat("x", i) + "@example.com"}, "password": {"wrong horse battery staple"}})
	}
	if resp := s.post(t, sprayer, url.Values{"email": {"other@example.com"}, "password": {pw}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the sprayer after 25 failures: %d, want 429 (spraying stays bounded)", resp.StatusCode)
	}
	if resp := s.login(t, admin2, pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin's known browser with the right password after a spray from the same address: %d, want 303", resp.StatusCode)
	}
}

// TestGuessesAtAnEmailDoNotLockOutItsAdmin: failures for the admin's email
// from someone else don't keep the admin's own browser out.
func TestGuessesAtAnEmailDoNotLockOutItsAdmin(t *testing.T) {
	s := newSite(t, true)
	mine := s.browser(t)
	if resp := s.login(t, mine, pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	attacker := s.browser(t)
	for i := 0; i < 30; i++ {
		s.login(t, attacker, "wrong horse battery staple")
	}
	if resp := s.login(t, attacker, pw); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the attacker's 31st guess: %d, want 429", resp.StatusCode)
	}
	if resp := s.login(t, mine, pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin's browser after 30 guesses at its email: %d, want 303", resp.StatusCode)
	}
}

func TestLoginAcceptsOnlySmallURLEncodedForms(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	token := s.csrf(t, c, "/admin/login")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("csrf", token)
	_ = mw.WriteField("email", email)
	_ = mw.WriteField("password", "wrong horse battery staple")
	fw, _ := mw.CreateFormFile("upload", "big.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 1<<20))
	mw.Close()
	resp, err := c.Post(s.srv.URL+"/admin/login", mw.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("multipart login post: %d, want 415", resp.StatusCode)
	}
	big := url.Values{"csrf": {token}, "email": {email}, "password": {strings.Repeat("p", 1<<20)}}.Encode()
	resp, err = c.Post(s.srv.URL+"/admin/login", "application/x-www-form-urlencoded", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB login form: %d, want 413", resp.StatusCode)
	}
}

func TestMalformedAttemptsCountAgainstTheClient(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	for i := 0; i < admin.MaxPerIP; i++ {
		token := s.csrf(t, c, "/admin/login")
		resp, err := c.Post(s.srv.URL+"/admin/login", "multipart/form-data; boundary=x", strings.NewReader("csrf="+token))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp := s.post(t, c, url.Values{"email": {"someone@example.com"}, "password": {pw}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("login after %d malformed posts: %d, want 429", admin.MaxPerIP, resp.StatusCode)
	}
}

func TestTypedEmailIsLoggedBoundedAndPasswordNever(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	long := strings.Repeat("e", 3000) + "@example.com"
	s.post(t, c, url.Values{"email": {long}, "password": {"a secret that must not leak"}})
	logs := s.logs.String()
	if strings.Contains(logs, strings.Repeat("e", 200)) {
		t.Errorf("a 3000-character email was logged whole (%d bytes of log)", len(logs))
	}
	if strings.Contains(logs, "a secret that must not leak") {
		t.Error("password in the log")
	}
	if !strings.Contains(logs, "admin login refused") {
		t.Errorf("the refusal is not logged at all:\n%s", logs)
	}
}
