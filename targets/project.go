// Package targets is Slipway's release automation as Mage targets: the
// migration workflow and its lint, the reproducible build, a sandbox
// server, provision, deploy, rollback, status, backups, restore, logs,
// psql, exec, the env file and a local development loop.
//
// An app's magefile.go gets every target from one import, and says where
// its layout differs from the defaults in one Project value:
//
//	//go:build mage
//
//	package main
//
//	import (
//		//mage:import
//		"github.com/slipway-dev/slipway/targets"
//	)
//
//	func init() {
//		targets.Configure(targets.Project{Main: "./cmd/server", Migrations: "db/migrations", DatabaseURL: "SHOP_DATABASE_URL"})
//	}
//
// Each target is a doc comment (its first sentence is the `mage -l` help
// line) and a few lines: resolve its settings (settings.go: the Project,
// then the environment, which project.go alone reads), then call
// the one internal package function that does the work, connecting to
// hosts included. Every target checks the Project (Validate) before it
// connects anywhere.
// The server-side settings (DEPLOY_HOST, DEPLOY_PATH, APP_* ...) stay
// environment variables: they differ per machine, the Project doesn't.
//
// The app's main uses github.com/slipway-dev/slipway/app, and mage.go is
// github.com/slipway-dev/slipway/targets/bootstrap's Main.
package targets

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Project is an app's layout: the one place an app says where its code,
// migrations and settings are. The zero value is Slipway's own layout
// (./cmd/app, migrations/, bin/app, DATABASE_URL), without seed data or the
// admin area.
type Project struct {
	// Main is the app's main package, a folder relative to the module root
	// (where magefile.go is): "" is ./cmd/app. buildApp and dev build it.
	Main string
	// Migrations is the folder of the goose SQL migrations, relative to
	// the module root: "" is migrations. $MIGRATIONS_DIR overrides it.
	Migrations string
	// Name names the binary (bin/<Name>) and is the default APP_NAME: the
	// systemd units, the service user, /etc/<Name>/<Name>.env. "" is app.
	// A unit name: lowercase letters, digits, '-' and '_'.
	Name string
	// DatabaseURL is the environment variable the app reads its database
	// URL from: "" is DATABASE_URL. buildApp and dev stamp it into the
	// binary as app.Config.DatabaseURL's default, so main needn't repeat
	// it. The local targets (dev, resetDB, seed,
	// fixMigrations, pullDB) read the local database from it, and the
	// server's env file holds it under that name (provision's check,
	// backups, restore, psql).
	DatabaseURL string
	// Seed is a SQL file of idempotent statements (INSERT ... ON CONFLICT
	// DO NOTHING) that the seed target runs on the local database in one
	// transaction, relative to the module root. "" with Admin is the admin
	// area's development users; "" without Admin: seed says there is none.
	Seed string
	// Admin is true when the app mounts Slipway's admin area (app.Config's
	// admin option): createAdmin refuses without it.
	Admin bool
}

var (
	projectMu sync.Mutex
	project   Project
)

// Configure sets the project every target works on. Call it from an
// init func in magefile.go; without a call, targets use the zero Project.
func Configure(p Project) {
	projectMu.Lock()
	defer projectMu.Unlock()
	project = p
}

// current is the configured project with its defaults resolved.
func current() Project {
	projectMu.Lock()
	defer projectMu.Unlock()
	return project.Resolved()
}

// Resolved returns p with every default filled in and $MIGRATIONS_DIR
// applied: what the targets work with.
func (p Project) Resolved() Project {
	if p.Main == "" {
		p.Main = "./cmd/app"
	}
	if p.Migrations == "" {
		p.Migrations = "migrations"
	}
	if dir := os.Getenv("MIGRATIONS_DIR"); dir != "" {
		p.Migrations = dir
	}
	if p.Name == "" {
		p.Name = "app"
	}
	if p.DatabaseURL == "" {
		p.DatabaseURL = "DATABASE_URL"
	}
	return p
}

// stampedURL is the name buildApp stamps into the binary for the runtime
// (app.Config.DatabaseURL's default): none for DATABASE_URL, the default
// anyway, so an app on the default layout builds as it always did.
func (p Project) stampedURL() string {
	if r := p.Resolved(); r.DatabaseURL != "DATABASE_URL" {
		return r.DatabaseURL
	}
	return ""
}

// Binary is the path buildApp writes and deploy ships: bin/<Name>.
func (p Project) Binary() string {
	return filepath.Join("bin", p.Resolved().Name)
}

// String is the resolved project on one line, as deploy -dryRun and status
// print it.
func (p Project) String() string {
	r := p.Resolved()
	s := fmt.Sprintf("project: main %s, migrations %s, binary %s, app name %s, database URL in $%s", r.Main, r.Migrations, r.Binary(), r.appName(), r.DatabaseURL)
	if r.Admin {
		s += ", admin area"
	}
	return s
}

// appName is APP_NAME, default Name: what the server's units are called.
func (p Project) appName() string {
	if v := os.Getenv("APP_NAME"); v != "" {
		return v
	}
	return p.Resolved().Name
}

var (
	// As internal/service's names: they end up in unit files and paths.
	nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the resolved project against the working directory
// (the module root: mage runs targets in magefile.go's folder) and returns
// one line naming the first bad field and the fix.
func (p Project) Validate() error {
	r := p.Resolved()
	if err := checkMain(r.Main); err != nil {
		return fmt.Errorf("targets.Project.Main %q: %v: set Main to the folder of the app's main package, e.g. \"./cmd/server\"", r.Main, err)
	}
	if fi, err := os.Stat(r.Migrations); err != nil || !fi.IsDir() {
		field := "targets.Project.Migrations"
		if os.Getenv("MIGRATIONS_DIR") != "" {
			field = "MIGRATIONS_DIR"
		}
		return fmt.Errorf("%s %q: no such folder: create it (mkdir -p %s) or set %s to the folder holding the goose SQL files", field, r.Migrations, r.Migrations, field)
	}
	if !nameRE.MatchString(r.Name) {
		return fmt.Errorf("targets.Project.Name %q: not a unit name: use lowercase letters, digits, '-' and '_', starting with a letter, at most 31 characters (e.g. \"shop\")", r.Name)
	}
	if !envRE.MatchString(r.DatabaseURL) {
		return fmt.Errorf("targets.Project.DatabaseURL %q: not an environment variable name: use letters, digits and '_' (e.g. \"SHOP_DATABASE_URL\")", r.DatabaseURL)
	}
	if r.Seed != "" {
		if fi, err := os.Stat(r.Seed); err != nil || fi.IsDir() {
			return fmt.Errorf("targets.Project.Seed %q: no such file: set Seed to a SQL file of idempotent statements, or leave it empty", r.Seed)
		}
	}
	return nil
}

// checkMain says why dir is not a folder holding a main package.
func checkMain(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return errors.New("no such folder")
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			continue
		}
		if f.Name.Name == "main" {
			return nil
		}
		return fmt.Errorf("holds package %s, not main", f.Name.Name)
	}
	return errors.New("holds no Go file")
}

// getenv is os.Getenv as the internal packages need it for this project:
// DATABASE_URL reads the project's variable, APP_NAME defaults to Name.
func (p Project) getenv(key string) string {
	r := p.Resolved()
	switch key {
	case "DATABASE_URL":
		return os.Getenv(r.DatabaseURL)
	case "APP_NAME":
		return r.appName()
	}
	return os.Getenv(key)
}

// configured validates the configured project against the working
// directory: every target calls it first.
func configured() (Project, error) {
	p := current()
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}
