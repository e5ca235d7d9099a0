package admin_test

// Attacks on the login from issue 25, each performed against the real
// handlers over a real PostgreSQL.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/users"
)

// TestGarbageLoginPostsDoNoDatabaseWork: posts that can't be a login (no
// form content type, multipart, too large, no or a forged CSRF token) are
// refused before the database, so a flood of them takes no advisory lock
// and no pool connection (issue 25, item 3).
func TestGarbageLoginPostsDoNoDatabaseWork(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32"})
	c := s.browser(t)
	token := s.csrf(t, c, "/admin/login")
	garbage := []struct {
		contentType, body string
		want              int
	}{
		{"", "email=a@example.com&password=x", http.StatusUnsupportedMediaType},
		{"text/plain", "hello", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", "--x--", http.StatusUnsupportedMediaType},
		{formType, "csrf=" + token + "&password=" + strings.Repeat("p", 64<<10), http.StatusRequestEntityTooLarge},
		{formType, "email=ada@example.com&password=x", http.StatusForbidden},
		{formType, "email=ada@example.com&password=x&csrf=" + strings.Repeat("A", 43), http.StatusForbidden},
	}
	before := s.pool.Stat().AcquireCount()
	for i := range 300 {
		g := garbage[i%len(garbage)]
		req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(g.body))
		if g.contentType != "" {
			req.Header.Set("Content-Type", g.contentType)
		}
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.%d.%d", i>>8, i&255))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != g.want {
			t.Fatalf("garbage post %q %.40q: %d, want %d", g.contentType, g.body, resp.StatusCode, g.want)
		}
	}
	if n := s.pool.Stat().AcquireCount() - before; n != 0 {
		t.Errorf("300 garbage login posts took %d pool connections, want 0 (refused before the database)", n)
	}
	var rows int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM login_failures`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("garbage left %d rows in login_failures, want 0", rows)
	}
}

// fillAccountBucket makes admin.MaxPerAccount wrong guesses at the admin's
// email, each from its own address behind the trusted proxy, as a
// distributed attacker does.
func (s *site) fillAccountBucket(t *testing.T) {
	t.Helper()
	attacker := s.browser(t)
	for i := range admin.MaxPerAccount {
		resp := s.postFrom(t, attacker, fmt.Sprintf("2001:db8:%x::1", i+1), url.Values{"email": {email}, "password": {"wrong horse battery staple"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d from its own /64: %d, want 401", i+1, resp.StatusCode)
		}
	}
}

// loginPage posts the admin's login from c at addr and returns the status
// and the page.
func (s *site) loginPage(t *testing.T, c *http.Client, addr, pass string) (int, string) {
	t.Helper()
	form := url.Values{"email": {email}, "password": {pass}, "csrf": {s.csrf(t, c, "/admin/login")}}
	req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", formType)
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLockedOutAdminIsToldTheWayInAndAKnownBrowserGetsIn performs item 4
// of issue 25: guesses from many networks fill the account's bucket while
// a flood holds every general hashing slot. A browser that never logged in
// is refused, and the page tells the owner the way in that no attacker can
// block; the admin's known browser gets in all the same.
func TestLockedOutAdminIsToldTheWayInAndAKnownBrowserGetsIn(t *testing.T) {
	gate := admin.NewGate(1, 10*time.Millisecond)
	o := noDelays()
	o.Gate = gate
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32", auth: o})
	known := s.browser(t)
	if code, _ := s.loginPage(t, known, "198.51.100.200", pw); code != http.StatusSeeOther {
		t.Fatalf("first login: %d", code)
	}
	wayIn := []string{"go run mage.go createAdmin", "-reset", "docs/admin.md"}
	saysTheWayIn := func(what string, code, want int, page string) {
		t.Helper()
		if code != want {
			t.Errorf("%s: %d, want %d", what, code, want)
		}
		for _, w := range wayIn {
			if !strings.Contains(page, w) {
				t.Errorf("%s: the page doesn't name the owner's way in (no %q); it says: %s", what, w, alert(page))
			}
		}
	}

	s.fillAccountBucket(t)
	code, page := s.loginPage(t, s.browser(t), "198.51.100.7", pw)
	saysTheWayIn("a new browser while the account's bucket is full", code, http.StatusTooManyRequests, page)

	release, err := gate.Enter(context.Background()) // the flood from ~300 networks
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if code, _ := s.loginPage(t, known, "198.51.100.200", pw); code != http.StatusSeeOther {
		t.Errorf("the known browser while the account's bucket is full and every general slot is taken: %d, want 303", code)
	}
	other := s.browser(t) // an email with an empty bucket: only the full gate refuses it
	form := url.Values{"email": {"bob@example.com"}, "password": {pw}, "csrf": {s.csrf(t, other, "/admin/login")}}
	req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", formType)
	req.Header.Set("X-Forwarded-For", "198.51.100.8")
	resp, err := other.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	saysTheWayIn("a new browser while every general hashing slot is taken", resp.StatusCode, http.StatusServiceUnavailable, string(b))

	// The way in: over SSH the owner resets the password (`createAdmin
	// -reset` runs `app admin create -reset-password`), which prints a
	// link; a browser that never logged in opens it and gets in, the attack
	// going on.
	h, err := password.New(pepper, cheap)
	if err != nil {
		t.Fatal(err)
	}
	const newPW = "a brand new passphrase 42"
	hash, _ := h.Hash(newPW)
	store := users.NewStore(s.pool)
	if err := store.SetPassword(context.Background(), email, hash); err != nil {
		t.Fatal(err)
	}
	u, err := store.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	fresh := s.browser(t)
	resp, err = fresh.Get(s.srv.URL + admin.EnrolLink(h, email, u.DeviceEpoch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/admin/login" {
		t.Errorf("the link: %d to %q, want a redirect to the bare form (the token off the address bar)", resp.StatusCode, loc)
	}
	if code, page := s.loginPage(t, fresh, "198.51.100.9", newPW); code != http.StatusSeeOther {
		t.Errorf("a new browser through the owner's link, account bucket full, every general slot taken: %d (%s), want 303", code, alert(page))
	}
	if code, _ := s.loginPage(t, s.browser(t), "198.51.100.10", newPW); code != http.StatusTooManyRequests {
		t.Errorf("another new browser without the link: %d, want 429 still", code)
	}
}

// TestPasswordResetEndsDeviceCookies performs item 10 of issue 25: a device
// cookie (say, from a stolen laptop) kept the browser "known" for 90 days,
// through a password reset. After the reset (users.Store.SetPassword, what
// `createAdmin -reset` runs) it counts as a new browser: while the
// account's bucket is full, it is refused.
func TestPasswordResetEndsDeviceCookies(t *testing.T) {
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32", auth: noDelays()})
	stolen := s.browser(t)
	if code, _ := s.loginPage(t, stolen, "198.51.100.200", pw); code != http.StatusSeeOther {
		t.Fatalf("first login: %d", code)
	}
	s.fillAccountBucket(t)
	if code, _ := s.loginPage(t, stolen, "198.51.100.200", pw); code != http.StatusSeeOther {
		t.Fatalf("the known browser before the reset: %d, want 303 (known)", code)
	}
	h, err := password.New(pepper, cheap)
	if err != nil {
		t.Fatal(err)
	}
	const newPW = "a brand new passphrase 42"
	hash, _ := h.Hash(newPW)
	if err := users.NewStore(s.pool).SetPassword(context.Background(), email, hash); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.loginPage(t, stolen, "198.51.100.200", newPW); code != http.StatusTooManyRequests {
		t.Errorf("a device cookie from before the password reset, right password, account bucket full: %d, want 429 (no longer a known browser)", code)
	}
}

// alert is the page's error paragraph.
func alert(page string) string {
	_, after, _ := strings.Cut(page, `<p id="error" role="alert">`)
	msg, _, _ := strings.Cut(after, "</p>")
	return msg
}

// TestLoginsStuckInTheDatabaseLeaveAConnectionForReadyz: well-formed
// logins that block in the database (here on a lock another session holds
// on the throttle's table, or on each other's advisory locks) hold at most all but one of the pool's
// connections, so /readyz and the rest of the app still get one
// (issue 25, item 3).
func TestLoginsStuckInTheDatabaseLeaveAConnectionForReadyz(t *testing.T) {
	const maxConns = 3
	s := newSiteWith(t, siteOptions{tls: true, proxies: "127.0.0.1/32", auth: noDelays(), poolMaxConns: maxConns})
	ctx := context.Background()
	blocker, err := s.pool.Acquire(ctx) // the lock is taken before the logins start
	if err != nil {
		t.Fatal(err)
	}
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE login_failures IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// The lock holder is a connection of the pool too: hand its place back
	// by moving it out (it stays open, holding the lock) and let the
	// logins have the pool's maxConns.
	conn := blocker.Hijack()
	defer conn.Close(ctx)
	defer func() { _ = tx.Rollback(ctx) }()
	done := make(chan int, 8)
	for i := range 8 {
		c := s.browser(t)
		token := s.csrf(t, c, "/admin/login")
		go func() {
			form := url.Values{"email": {email}, "password": {"wrong horse battery staple"}, "csrf": {token}}
			req, _ := http.NewRequest("POST", s.srv.URL+"/admin/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", formType)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
			resp, err := c.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	waiting := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(DISTINCT pid) FROM pg_locks
			WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); waiting() < maxConns-1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the logins never reached the lock: %d waiting", waiting())
		}
	}
	time.Sleep(300 * time.Millisecond) // room for one more to arrive, if it could
	if n := waiting(); n > maxConns-1 {
		t.Errorf("%d logins hold a pool connection waiting in the database, want at most %d of the pool's %d", n, maxConns-1, maxConns)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.pool.Ping(pctx); err != nil {
		t.Errorf("a ping (what /readyz does) while logins are stuck in the database: %v, want a free connection", err)
	}
	_ = tx.Rollback(ctx)
	for range 8 {
		if code := <-done; code == 0 || code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("a stuck login once the lock is gone: %d", code)
		}
	}
}
