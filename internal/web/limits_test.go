package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/version"
)

func TestHomePage(t *testing.T) {
	h := NewServer(Deps{Log: slog.New(slog.DiscardHandler), Ready: func(context.Context) error { return nil }, Version: version.Info{Version: "v1.2.3"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "<h1>") {
		t.Errorf("GET /: %d %q %q, want a small HTML page", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if rec.Code != 404 {
		t.Errorf("GET /nope: %d, want 404 (the home page is / only)", rec.Code)
	}
}

// serveForTest runs Serve on a loopback listener and returns its address.
func serveForTest(t *testing.T, h http.Handler, readTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, h, ServeOptions{Log: slog.New(slog.DiscardHandler), ReadTimeout: readTimeout})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestHugeHeadersAreRefused(t *testing.T) {
	addr := serveForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), 0)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Padding", strings.Repeat("p", 256<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("256 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// TestSlowBodyIsCutOff sends a request
// that stalls its body: without ReadTimeout the server would wait forever.
func TestSlowBodyIsCutOff(t *testing.T) {
	got := make(chan error, 1)
	addr := serveForTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), time.Second)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers promise a body that never comes.
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err == nil {
			t.Error("the handler read a complete body that was never sent")
		}
	case <-time.After(ReadTimeout):
		t.Fatalf("a stalled body still held the handler after %s with ReadTimeout 1s", ReadTimeout)
	}
}
