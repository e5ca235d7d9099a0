// Package web is the app's HTTP side: its routes, their handlers, and a
// server that starts and stops without losing a request.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/slipway-dev/slipway/internal/admin"
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
	// Admin serves the admin area (admin.Disabled when it can't run).
	Admin *admin.Handlers
}

// NewServer returns the app's handler with every route.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthz())
	mux.Handle("GET /readyz", readyz(d.Ready, d.Log))
	mux.Handle("GET /version", versionHandler(d.Version))
	mux.Handle("GET /{$}", home(d.Version))
	if d.Admin != nil {
		mux.Handle("GET /admin/login", d.Admin.LoginForm())
		mux.Handle("POST /admin/login", d.Admin.Login())
		mux.Handle("GET /admin", d.Admin.Dashboard())
		mux.Handle("POST /admin/logout", d.Admin.Logout())
	}
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// cross-origin form posts are refused before any handler runs, on top of
	// the admin forms' own CSRF tokens.
	return http.NewCrossOriginProtection().Handler(mux)
}
