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
	// Admin serves the admin area (admin.Disabled when it can't run); nil
	// mounts none.
	Admin *admin.Handlers
	// App serves every path the routes here leave (the app's own routes,
	// app.Config.Handler); nil is this repository's app, Routes.
	App http.Handler
}

// NewServer returns the app's handler with every route: /healthz, /readyz
// and /version, the admin area, and d.App beside them (the routes here win
// over its same paths).
//
// With the admin area, every request passes http.CrossOriginProtection
// first, on top of the admin forms' own CSRF tokens; without it the app's
// handler gets requests as they come (an API may take cross-origin posts).
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthz())
	mux.Handle("GET /readyz", readyz(d.Ready, d.Log))
	mux.Handle("GET /version", versionHandler(d.Version))
	if d.App == nil {
		d.App = Routes(d.Version.Version)
	}
	// The app's mux records its own pattern on the request (metrics label
	// by it); a handler that is no ServeMux counts as route "/".
	mux.Handle("/", d.App)
	if d.Admin == nil {
		return mux
	}
	mux.Handle("GET /admin/login", d.Admin.LoginForm())
	mux.Handle("POST /admin/login", d.Admin.Login())
	mux.Handle("GET /admin", d.Admin.Dashboard())
	mux.Handle("POST /admin/logout", d.Admin.Logout())
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// cross-origin form posts are refused before any handler runs, on top of
	// the admin forms' own CSRF tokens.
	return http.NewCrossOriginProtection().Handler(mux)
}

// Routes is this repository's own app (cmd/app's app.Config.Handler): the
// home page at GET / exactly; every other unknown path stays 404.
func Routes(version string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", home(version))
	return mux
}
