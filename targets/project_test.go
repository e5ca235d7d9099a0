package targets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile creates dir/name with content, and its folders.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each bad field is refused in one line that names it and the fix, from
// the module root as mage runs targets; the adopter's layout passes.
func TestUnitValidateNamesTheBadFieldAndTheFix(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "cmd/server/main.go", "package main\n\nfunc main() {}\n")
	writeFile(t, root, "internal/web/web.go", "package web\n")
	writeFile(t, root, "db/migrations/00001_init.sql", "-- +goose Up\n")
	writeFile(t, root, "seed.sql", "SELECT 1;\n")
	t.Chdir(root)
	t.Setenv("MIGRATIONS_DIR", "")
	good := Project{Main: "./cmd/server", Migrations: "db/migrations", Name: "shop", DatabaseURL: "SHOP_DATABASE_URL", Seed: "seed.sql"}
	if err := good.Validate(); err != nil {
		t.Fatalf("the adopter's project: %v", err)
	}
	for name, c := range map[string]struct {
		p    Project
		want string
	}{
		"main missing":       {Project{Main: "./cmd/app", Migrations: "db/migrations"}, `targets.Project.Main "./cmd/app": no such folder: set Main`},
		"main not main":      {Project{Main: "./internal/web", Migrations: "db/migrations"}, `targets.Project.Main "./internal/web": holds package web, not main`},
		"migrations missing": {Project{Main: "./cmd/server"}, `targets.Project.Migrations "migrations": no such folder: create it`},
		"name":               {Project{Main: "./cmd/server", Migrations: "db/migrations", Name: "My Shop"}, `targets.Project.Name "My Shop": not a unit name`},
		"database url":       {Project{Main: "./cmd/server", Migrations: "db/migrations", DatabaseURL: "SHOP-URL"}, `targets.Project.DatabaseURL "SHOP-URL": not an environment variable name`},
		"seed":               {Project{Main: "./cmd/server", Migrations: "db/migrations", Seed: "nope.sql"}, `targets.Project.Seed "nope.sql": no such file`},
	} {
		err := c.p.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line starting %q", name, err, c.want)
		}
	}
	t.Setenv("MIGRATIONS_DIR", "elsewhere")
	if err := good.Validate(); err == nil || !strings.HasPrefix(err.Error(), `MIGRATIONS_DIR "elsewhere": no such folder`) {
		t.Errorf("MIGRATIONS_DIR overrides Migrations: got %v", err)
	}
}

// The zero Project is Slipway's own layout, and the resolved project
// prints on one line; APP_NAME and the database URL variable follow it.
func TestUnitZeroProjectIsSlipwaysLayout(t *testing.T) {
	t.Setenv("MIGRATIONS_DIR", "")
	t.Setenv("APP_NAME", "")
	r := Project{}.Resolved()
	if r.Main != "./cmd/app" || r.Migrations != "migrations" || r.Name != "app" || r.DatabaseURL != "DATABASE_URL" || r.Binary() != "bin/app" {
		t.Errorf("zero project resolves to %+v, binary %s", r, r.Binary())
	}
	p := Project{Main: "./cmd/server", Migrations: "db/migrations", Name: "shop", DatabaseURL: "SHOP_DATABASE_URL"}
	want := "project: main ./cmd/server, migrations db/migrations, binary bin/shop, app name shop, database URL in $SHOP_DATABASE_URL"
	if got := p.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	t.Setenv("SHOP_DATABASE_URL", "postgres://shop@localhost/shop")
	t.Setenv("DATABASE_URL", "postgres://other@localhost/other")
	if got := p.getenv("DATABASE_URL"); got != "postgres://shop@localhost/shop" {
		t.Errorf("the local targets read DATABASE_URL as %q, want the project's variable", got)
	}
	if got := p.getenv("APP_NAME"); got != "shop" {
		t.Errorf("APP_NAME defaults to %q, want Name", got)
	}
	t.Setenv("APP_NAME", "shop2")
	if got := p.getenv("APP_NAME"); got != "shop2" {
		t.Errorf("APP_NAME set: got %q", got)
	}
}
