package frontdoor_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/slipway-dev/slipway/internal/browsertest"
)

// spki is Chromium's pin of each certificate in pemCerts: the base64
// sha256 of its public key info.
func spki(t *testing.T, pemCerts ...[]byte) string {
	t.Helper()
	var pins []string
	for _, b := range pemCerts {
		for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			pins = append(pins, base64.StdEncoding.EncodeToString(sum[:]))
		}
	}
	return strings.Join(pins, ",")
}

// browserLogin logs in through the form at https://domain/admin/login in a
// headless Chromium that resolves domain to this machine and trusts
// Pebble's CA (and nothing else of the test's), and returns the cookies it
// kept for the admin area.
func browserLogin(t *testing.T, domain, email, password string, pins string) ([]*network.Cookie, string) {
	t.Helper()
	ctx := browsertest.New(t, 90*time.Second,
		chromedp.Flag("host-resolver-rules", "MAP "+domain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", pins))
	err := chromedp.Do(ctx,
		chromedp.Navigate("https://"+domain+"/admin/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("who")),
	)
	if err != nil {
		t.Fatalf("browser login over https://%s: %v", domain, err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatal(err)
	}
	at, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{"https://" + domain + "/admin"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	if !strings.Contains(who, email) {
		t.Errorf("dashboard shows %q", who)
	}
	return cookies, at
}
