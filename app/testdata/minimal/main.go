// Command minimal is the smallest adopter of package app: one handler and
// one migration. deps_test checks what it links; its size against plain's
// (the same handler on net/http and pgx alone) is what Slipway adds.
package main

import (
	"embed"
	"net/http"

	"github.com/slipway-dev/slipway/app"
)

//go:embed *.sql
var migrations embed.FS

func main() {
	app.Main(app.Config{
		Migrations: migrations,
		Handler: func(d app.Deps) (http.Handler, error) {
			return hello(d.Pool), nil
		},
	})
}
