package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/slipway-dev/slipway/internal/version"
)

// healthz says the process is alive; it checks nothing else, so a database
// outage never makes a supervisor restart a healthy process.
func healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// NotReady is a reason the app can't serve yet, as Deps.Ready returns it.
// Reason is in the app's own words and is what /readyz shows the world;
// Cause, the database's or driver's error text (which may name tables,
// databases, hosts or users), only goes to the log.
type NotReady struct {
	Reason string
	Cause  error
}

func (e *NotReady) Error() string {
	if e.Cause == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Cause.Error()
}

func (e *NotReady) Unwrap() error { return e.Cause }

// unknownReason is what /readyz says for an error that isn't a *NotReady:
// its text is nobody's business but the log's.
const unknownReason = "not ready"

// readyz says whether the app can serve: 200 when ready, 503 with a short
// reason. Only a *NotReady's Reason is shown; every error's full text is
// logged, at Warn when it changes, so an outage polled every second by a
// load balancer makes one line, not one a second.
func readyz(ready func(context.Context) error, log *slog.Logger) http.Handler {
	var last atomic.Value // the last error text logged at Warn
	last.Store("")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			reason := unknownReason
			var nr *NotReady
			if errors.As(err, &nr) {
				reason = nr.Reason
			}
			if text := err.Error(); last.Swap(text) != text {
				log.Warn("not ready", "reason", reason, "err", text)
			} else {
				log.Debug("not ready", "reason", reason, "err", text)
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
			return
		}
		last.Store("")
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func versionHandler(v version.Info) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
