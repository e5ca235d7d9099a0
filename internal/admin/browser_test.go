package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-dev/slipway/internal/browsertest"
)

// TestBrowserLogsInThroughTheForm drives a real headless Chromium: it fills
// the login form, lands on the dashboard, and logs out. It runs the
// production cookies (Secure, __Host-) over plain http://127.0.0.1:
// Chromium treats loopback as a secure context and keeps them, so the test
// needs no COOKIE_INSECURE (measured: the login works only if it does).
func TestBrowserLogsInThroughTheForm(t *testing.T) {
	s := newSiteWith(t, siteOptions{})
	ctx := browsertest.New(t, 60*time.Second)

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.srv.URL+"/admin/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("who")),
	)
	if err != nil {
		t.Fatalf("browser login: %v", err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatal(err)
	}
	commit, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("version-commit")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login"))); err != nil {
		t.Fatalf("browser logout: %v", err)
	}
	afterLogout, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(who, email) || commit != "cafebabe" {
		t.Errorf("dashboard shows %q / commit %q", who, commit)
	}
	if !strings.HasSuffix(afterLogout, "/admin/login") {
		t.Errorf("after logout the browser is at %s", afterLogout)
	}
}
