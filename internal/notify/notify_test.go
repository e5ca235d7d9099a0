package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAClientErrorIsNotRetried(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusNotFound) // a deleted webhook: retrying can't help
	}))
	defer srv.Close()
	n, err := New(srv.URL + "/hooks/secret-token")
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), Event{Kind: "deploy"})
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("got %v, want a 404 without the URL's path", err)
	}
	if posts.Load() != 1 {
		t.Errorf("%d posts, want 1", posts.Load())
	}
}

func TestAnUnreachableEndpointsErrorNamesOnlyTheHost(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hooks/secret-token"
	srv.Close() // nothing listens there any more
	n, err := New(url)
	if err != nil {
		t.Fatal(err)
	}
	n.Backoff = 0
	err = n.Send(context.Background(), Event{})
	if err == nil || strings.Contains(err.Error(), "secret-token") || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "3 attempt") {
		t.Errorf("got %v", err)
	}
}

func TestSummaryIsOneLineNamingWhatWhereWhoAndHowItEnded(t *testing.T) {
	got := Summary(Event{Kind: "deploy", Host: "web-1", Outcome: "rolled-back", Version: "v4", Commit: "c0ffee04c0ffee04", Release: "r1",
		Duration: 12.34, Who: "ana@laptop", Cause: "release r1 not ready: /readyz answered 503\nlast log lines ..."})
	want := "deploy of v4 (commit c0ffee04c0ff) to web-1 by ana@laptop: rolled-back in 12.3s, release r1: release r1 not ready: /readyz answered 503"
	if got != want {
		t.Errorf("Summary:\n got %q\nwant %q", got, want)
	}
}

// TestAnHTTPWebhookIsRefused performs issue 25's item 7 (1/3): a webhook
// over plain http sends the deploy's details, and the URL's secret path,
// in clear over the network. Loopback stays allowed (tests).
func TestAnHTTPWebhookIsRefused(t *testing.T) {
	for _, raw := range []string{"http://hooks.example.com/services/never-printed", "http://10.0.0.7:8080/never-printed", "HTTP://hooks.slack.com/never-printed"} {
		_, err := New(raw)
		if err == nil || !strings.Contains(err.Error(), "https") || strings.Contains(err.Error(), "never-printed") || strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%q) = %v, want one line asking for https, without the URL", raw, err)
		}
	}
	for _, raw := range []string{"https://hooks.slack.com/services/x", "http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"} {
		if _, err := New(raw); err != nil {
			t.Errorf("New(%q): %v", raw, err)
		}
	}
}

// TestARedirectToAnotherHostGetsNothing performs issue 25's item 7 (2/3):
// a 307 from the webhook's host to another one (a hijacked or
// misconfigured endpoint) must not hand the body to the other host.
func TestARedirectToAnotherHostGetsNothing(t *testing.T) {
	var stolen atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
	}))
	defer other.Close()
	// Another host name for the same machine: localhost, not 127.0.0.1.
	elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/collect"
	var sameHost atomic.Int32
	var hook *httptest.Server
	hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			sameHost.Add(1) // a redirect within the host is followed
			w.Header().Set("Location", elsewhere)
		default:
			w.Header().Set("Location", hook.URL+"/moved")
		}
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	n, err := New(hook.URL + "/hooks/secret-token")
	if err != nil {
		t.Fatal(err)
	}
	n.Backoff = 0
	err = n.Send(context.Background(), Event{Kind: "deploy", Cause: "a detail for the webhook only"})
	if stolen.Load() != 0 {
		t.Fatalf("the other host received %d request(s): the redirect handed it the notification", stolen.Load())
	}
	if sameHost.Load() == 0 {
		t.Errorf("a redirect within the webhook's host was not followed")
	}
	if err == nil || !strings.Contains(err.Error(), "redirect") || strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), "collect") {
		t.Errorf("got %v, want a refused redirect naming neither URL's path", err)
	}
}

// TestTheCauseIsItsFirstLine: the body carries the reason, never what
// follows it (a not-ready release's error goes on with its journal).
func TestTheCauseIsItsFirstLine(t *testing.T) {
	var got Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	n, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), Event{Cause: "release r1 not ready: x not ready within 30s\nlast log lines of x:\n  user ana@example.com paid 12 EUR"}); err != nil {
		t.Fatal(err)
	}
	if got.Cause != "release r1 not ready: x not ready within 30s" {
		t.Errorf("cause posted: %q", got.Cause)
	}
}
