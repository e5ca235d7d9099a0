package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// postBody posts body to /admin/login as contentType.
func (s *site) postBody(t *testing.T, c *http.Client, contentType string, body io.Reader) *http.Response {
	t.Helper()
	resp, err := c.Post(s.srv.URL+"/admin/login", contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const formType = "application/x-www-form-urlencoded"

func TestCSRFRefusesASelfChosenPair(t *testing.T) {
	s := newSite(t, true)
	c := s.browser(t)
	self := strings.Repeat("A", 43)
	u, _ := url.Parse(s.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: admin.CookieName(admin.CSRFCookie, false), Value: self, Path: "/"}})
	form := url.Values{"email": {email}, "password": {"wrong horse battery staple"}, "csrf": {self}}
	if resp := s.postBody(t, c, formType, strings.NewReader(form.Encode())); resp.StatusCode != http.StatusForbidden {
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
	if resp := s.postBody(t, c, mw.FormDataContentType(), &b); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("multipart login post: %d, want 415", resp.StatusCode)
	}
	big := url.Values{"csrf": {token}, "email": {email}, "password": {strings.Repeat("p", 1<<20)}}.Encode()
	if resp := s.postBody(t, c, formType, strings.NewReader(big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB login form: %d, want 413", resp.StatusCode)
	}
}

// TestMalformedAttemptsCountAgainstTheClient: junk costs the client its
// tries, counted in memory (the front limiter) rather than in the database.
func TestMalformedAttemptsCountAgainstTheClient(t *testing.T) {
	front := admin.DefaultFrontLimits
	front.PerClient.Every = 0 // no refill during the test, however slow the machine
	s := newSiteWith(t, siteOptions{tls: true, front: front})
	c := s.browser(t)
	for i := 0; i < admin.MaxPerIP; i++ {
		token := s.csrf(t, c, "/admin/login")
		s.postBody(t, c, "multipart/form-data; boundary=x", strings.NewReader("csrf="+token))
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

// postFrom posts a login as if through a reverse proxy at 127.0.0.1 that
// saw the client at addr.
func (s *site) postFrom(t *testing.T, c *http.Client, addr string, form url.Values) *http.Response {
	t.Helper()
	form.Set("csrf", s.csrf(t, c, "/admin/login"))
	req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", formType)
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestGuessingStaysBoundedAcrossManyClients: behind a trusted proxy, 30
// attacker addresses guessing one email get at most MaxPerAccount password
// checks in all, and the admin still gets in: from a browser that logged in
// before, and, while the account bucket isn't full, from a fresh one.
func TestGuessingStaysBoundedAcrossManyClients(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32", auth: noDelays()})
	known := s.browser(t)
	if resp := s.postFrom(t, known, "198.51.100.200", url.Values{"email": {email}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	attacker := s.browser(t)
	wrong := url.Values{"email": {email}, "password": {"wrong horse battery staple"}}
	for i := 0; i < 3; i++ { // three addresses fill their own buckets
		for j := 0; j < admin.MaxPerEmail; j++ {
			s.postFrom(t, attacker, fmt.Sprintf("203.0.113.%d", i), wrong)
		}
	}
	if resp := s.postFrom(t, attacker, "203.0.113.0", wrong); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("an attacker address past its limit: %d, want 429", resp.StatusCode)
	}
	if resp := s.postFrom(t, s.browser(t), "198.51.100.7", url.Values{"email": {email}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin from a fresh browser at another address: %d, want 303", resp.StatusCode)
	}
	checked := 0
	for i := 3; i < 30; i++ {
		for j := 0; j < admin.MaxPerEmail; j++ {
			if resp := s.postFrom(t, attacker, fmt.Sprintf("203.0.113.%d", i), wrong); resp.StatusCode == http.StatusUnauthorized {
				checked++
			}
		}
	}
	if total := 3*admin.MaxPerEmail + checked; total > admin.MaxPerAccount {
		t.Errorf("30 addresses got %d password checks at one email, want at most %d", total, admin.MaxPerAccount)
	}
	if resp := s.postFrom(t, known, "198.51.100.200", url.Values{"email": {email}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin's known browser while the account is under attack: %d, want 303", resp.StatusCode)
	}
}

func TestIPv6ClientsAreCountedPerSlash64(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32", auth: noDelays()})
	c := s.browser(t)
	wrong := url.Values{"email": {email}, "password": {"wrong horse battery staple"}}
	for i := 0; i < admin.MaxPerEmail; i++ {
		s.postFrom(t, c, fmt.Sprintf("2001:db8:1:2::%x", i+1), wrong)
	}
	if resp := s.postFrom(t, c, "2001:db8:1:2:ffff::1", wrong); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another address of the same /64: %d, want 429", resp.StatusCode)
	}
	if resp := s.postFrom(t, c, "2001:db8:1:3::1", wrong); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an address of the next /64: %d, want 401", resp.StatusCode)
	}
}

// TestForwardedForIsIgnoredWithoutTrustedProxies: a client can't rotate
// its address by writing a header.
func TestForwardedForIsIgnoredWithoutTrustedProxies(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, auth: noDelays()})
	c := s.browser(t)
	wrong := url.Values{"email": {email}, "password": {"wrong horse battery staple"}}
	for i := 0; i < admin.MaxPerEmail; i++ {
		s.postFrom(t, c, fmt.Sprintf("203.0.113.%d", i), wrong)
	}
	if resp := s.postFrom(t, c, "203.0.113.99", wrong); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a made-up X-Forwarded-For from an untrusted peer: %d, want 429 (same client)", resp.StatusCode)
	}
}

func TestFailuresAreDelayedProgressively(t *testing.T) {
	l := admin.DefaultLimits
	l.DelayBase = time.Hour // far longer than the test: no timing involved
	s := newSiteWith(t, siteOptions{tls: true, auth: admin.AuthOptions{Limits: l}})
	c := s.browser(t)
	for i := 0; i < 2; i++ {
		if resp := s.login(t, c, "wrong horse battery staple"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := s.login(t, c, pw)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || ra < 3000 || ra > 3600 {
		t.Errorf("attempt right after 2 failures: %d Retry-After %q, want 429 and about an hour", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestExcessAttemptsAreAnsweredFastWhenHashingIsFull holds the only hashing
// slot: a login then gets 503 with Retry-After instead of waiting in line,
// and its attempt isn't counted.
func TestExcessAttemptsAreAnsweredFastWhenHashingIsFull(t *testing.T) {
	gate := admin.NewGate(1, 10*time.Millisecond)
	s := newSiteWith(t, siteOptions{tls: true, auth: admin.AuthOptions{Gate: gate, Limits: noDelays().Limits}})
	release, err := gate.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := s.browser(t)
	for i := 0; i < admin.MaxPerEmail+2; i++ {
		resp := s.login(t, c, pw)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("login while every slot is taken: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	release()
	if resp := s.login(t, c, pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login once the slot is free: %d, want 303 (503s must not count as failures)", resp.StatusCode)
	}
}

func TestPruneDeletesExpiredSessionsAndOldFailures(t *testing.T) {
	s := newSite(t, true)
	ctx := context.Background()
	if resp := s.login(t, s.browser(t), pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'old', id, now() - interval '1 minute' FROM users;
		INSERT INTO login_failures (email, ip, at) VALUES ('old@example.com', '192.0.2.1', now() - interval '2 days'),
			('new@example.com', '192.0.2.1', now() - interval '1 minute')`)
	if err != nil {
		t.Fatal(err)
	}
	sessions, failures, err := s.auth.Prune(ctx)
	if err != nil || sessions != 1 || failures != 1 {
		t.Errorf("Prune: %d sessions, %d failures, %v; want 1 and 1", sessions, failures, err)
	}
	var live, recent int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM login_failures)`).Scan(&live, &recent); err != nil {
		t.Fatal(err)
	}
	if live != 1 || recent != 1 {
		t.Errorf("after Prune: %d sessions, %d failures; want the live session and the recent failure kept", live, recent)
	}
}

// TestForwardedProtoIsBelievedOnlyFromTrustedProxies: HSTS goes out only
// when the request really was https.
func TestForwardedProtoIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		proxies string
		want    bool
	}{{"", false}, {"127.0.0.1/32", true}} {
		s := newSiteWith(t, siteOptions{proxies: tc.proxies})
		req, _ := http.NewRequest("GET", s.srv.URL+"/admin/login", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security") != ""; got != tc.want {
			t.Errorf("TRUSTED_PROXIES=%q, X-Forwarded-Proto: https from 127.0.0.1: HSTS %v, want %v", tc.proxies, got, tc.want)
		}
	}
}

// TestSprayThroughTheProxyDoesNotLockOutOthersBehindIt: with
// TRUSTED_PROXIES, clients behind one proxy are told apart, so even an
// admin's fresh browser gets in after a spray through the same proxy.
func TestSprayThroughTheProxyDoesNotLockOutOthersBehindIt(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32"})
	sprayer := s.browser(t)
	for i := 0; i < 25; i++ {
		s.postFrom(t, sprayer, "203.0.113.9", url.Values{"email": {fmt.Sprintf("spray%d@example.com", i)}, "password": {"wrong horse battery staple"}})
	}
	if resp := s.postFrom(t, sprayer, "203.0.113.9", url.Values{"email": {"other@example.com"}, "password": {pw}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the sprayer after 25 failures: %d, want 429", resp.StatusCode)
	}
	if resp := s.postFrom(t, s.browser(t), "198.51.100.7", url.Values{"email": {email}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the admin's fresh browser behind the same proxy: %d, want 303", resp.StatusCode)
	}
}

// TestKnownBrowserGetsInWhileAFloodHoldsEveryHashingSlot: a flood of
// attempts from browsers that never logged in can take every general slot,
// not the one kept for known browsers.
func TestKnownBrowserGetsInWhileAFloodHoldsEveryHashingSlot(t *testing.T) {
	gate := admin.NewGate(1, 10*time.Millisecond)
	s := newSiteWith(t, siteOptions{tls: true, auth: admin.AuthOptions{Gate: gate}})
	known := s.browser(t)
	if resp := s.login(t, known, pw); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	release, err := gate.Enter(context.Background()) // the flood
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if resp := s.login(t, s.browser(t), pw); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a fresh browser during the flood: %d, want 503", resp.StatusCode)
	}
	if resp := s.login(t, known, pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the known browser during the flood: %d, want 303", resp.StatusCode)
	}
}
