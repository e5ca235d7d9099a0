package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"
)

// RetryBind is how often Serve tries again for an address another process
// holds.
const RetryBind = time.Second

// Protect lets through only requests that carry token as a bearer token
// (Authorization: Bearer <token>, as Prometheus's authorization:
// credentials_file sends it): METRICS_ADDR is on loopback, which every
// local user reaches. Others get 401.
func Protect(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "send METRICS_TOKEN as a bearer token (Authorization: Bearer ...)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Serve serves /metrics on addr until ctx is done.
//
// During a handover two instances of the app run and both want addr: the
// new one finds it taken by the live one. Serve then retries every
// RetryBind and binds as soon as the old instance exits, so the port
// always belongs to one process and follows the live release (a scrape
// during the handover sees the old one). It never fails the app: metrics
// are not worth a refused deploy. Not SO_REUSEPORT: the kernel would split
// scrapes between two processes whose counters differ, and every counter
// would jump back and forth. Not a port per instance: the scraper's target
// would change with every deploy.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) {
	var ln net.Listener
	for logged := false; ; {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			log.Error("metrics not served: set METRICS_ADDR to a free address (or off)", "err", err)
			return
		}
		if !logged {
			log.Info("metrics address in use (the other release during a handover?): retrying until it is free", "addr", addr)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(RetryBind):
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close() // scrapes are idempotent: nothing to drain
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server stopped", "err", err)
	}
}
