// Command app is the Slipway web app, the first adopter of package app: its
// routes (internal/web) and migrations, with the admin area on. See
// docs/app.md for its commands.
package main

import (
	"net/http"

	"github.com/slipway-dev/slipway/app"
	"github.com/slipway-dev/slipway/internal/web"
	"github.com/slipway-dev/slipway/migrations"
)

func main() { app.Main(appConfig()) }

// appConfig is this app, for main and for the tests that drive app.Run.
func appConfig() app.Config {
	return app.Config{
		Migrations: migrations.FS,
		Handler: func(d app.Deps) (http.Handler, error) {
			return web.Routes(d.Version), nil
		},
		Admin:   true,
		Jobs:    jobs(),
		Workers: workers(),
	}
}
