package app_test

import (
	"context"
	"embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/app"
)

// In an app, the migrations folder's own package holds
//
//	//go:embed *.sql
//	var FS embed.FS
var migrations embed.FS

// newServer stands for the app's own routes.
func newServer(pool *pgxpool.Pool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	return mux
}

// An app's whole main: its migrations, its database URL's variable, its
// routes on the runtime's pool.
func ExampleMain() {
	app.Main(app.Config{
		Migrations:  migrations,
		DatabaseURL: "SHOP_DATABASE_URL",
		Handler: func(d app.Deps) (http.Handler, error) {
			d.Log.Info("routes ready", "greeting", d.Getenv("SHOP_GREETING"))
			return newServer(d.Pool), nil
		},
	})
}

// `version` prints the build stamp (`dev` and `unknown` in a build that
// buildApp did not stamp), then the Go version.
func ExampleRun_version() {
	var out strings.Builder
	err := app.Run(context.Background(), app.Config{}, []string{"version"}, os.Getenv, nil, &out, io.Discard)
	lines := strings.SplitN(out.String(), "\n", 3)
	fmt.Println(lines[0])
	fmt.Println(lines[1])
	fmt.Println(err)
	// Output:
	// version dev
	// commit unknown
	// <nil>
}

// `config check` loads the settings as serve would, without connecting, and
// names every bad one; the database URL by the app's own variable name.
func ExampleRun_configCheck() {
	c := app.Config{DatabaseURL: "SHOP_DATABASE_URL"}
	check := func(env map[string]string) {
		var out strings.Builder
		err := app.Run(context.Background(), c, []string{"config", "check"},
			func(k string) string { return env[k] }, nil, &out, io.Discard)
		if err != nil {
			fmt.Println("app:", err)
			return
		}
		fmt.Print(out.String())
	}
	check(map[string]string{"SHOP_DATABASE_URL": "postgres://shop@localhost:5432/shop"})
	check(map[string]string{"SHOP_DATABASE_URL": "postgres://shop@localhost:5432/shop", "SHUTDOWN_TIMEOUT": "soon"})
	check(map[string]string{"DATABASE_URL": "postgres://shop@localhost:5432/shop"})
	// Output:
	// config check: ok
	// app: config check: SHUTDOWN_TIMEOUT="soon": use a positive duration such as 30s or 2m
	// app: config check: SHOP_DATABASE_URL is not set: set it to postgres://user:password@host:5432/dbname
}

// `help` lists the commands and every setting the runtime reads; without
// Config.Admin, neither `admin create` nor the admin area's settings.
func ExampleRun_help() {
	var out strings.Builder
	_ = app.Run(context.Background(), app.Config{DatabaseURL: "SHOP_DATABASE_URL"}, []string{"help"}, os.Getenv, nil, &out, io.Discard)
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "  SHOP_") || strings.Contains(line, "admin") || strings.Contains(line, "PEPPER") {
			fmt.Println(strings.Fields(line)[0])
		}
	}
	// Output:
	// SHOP_DATABASE_URL
}
