// Package web is the app's HTTP side: its routes, their handlers, and a
// server that starts and stops without losing a request.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/slipway-dev/slipway/internal/version"
)

// Deps is what the handlers need.
type Deps struct {
	Log *slog.Logger
	// Ready reports why the app can't serve traffic yet (nil when it can):
	// database unreachable, or migrations pending. It must not take the
	// migration lock: load balancers and deploys poll it.
	Ready   func(ctx context.Context) error
	Version version.Info
}

// NewServer returns the app's handler with every route.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthz())
	mux.Handle("GET /readyz", readyz(d.Ready, d.Log))
	mux.Handle("GET /version", versionHandler(d.Version))
	return mux
}
