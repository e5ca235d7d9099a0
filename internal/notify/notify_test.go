package notify

import (
	"context"
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
