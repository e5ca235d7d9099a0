package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/slipway-dev/slipway/internal/devdb"
	"github.com/slipway-dev/slipway/internal/lint"
	"github.com/slipway-dev/slipway/internal/migfiles"
)

// ---- migrations ----

// LintMigrations checks that each migration is safe to apply while the old binary keeps serving.
// It parses the Up section of every file in $MIGRATIONS_DIR (default
// migrations/), prints the findings and fails if there are any. A statement
// opts out with `-- slipway:allow <rule> <reason>`. -format=text (default,
// `path:line: rule: message`), json, or github (workflow-command annotations).
// Results are cached by file content in ~/.cache/slipway/lint
// ($SLIPWAY_LINT_CACHE; off disables it).
func LintMigrations(ctx context.Context, format *string) error {
	p, err := configured()
	if err != nil {
		return err
	}
	f := lint.Formats[0]
	if format != nil {
		f = *format
	}
	if err := lint.CheckFormat(f); err != nil {
		return err
	}
	findings, err := lint.Dir(ctx, p.Migrations, lintCache(p))
	if err != nil {
		return err
	}
	warnSlowParser()
	if err := lint.Write(os.Stdout, f, findings); err != nil {
		return err
	}
	if len(findings) > 0 {
		return fmt.Errorf("%d findings", len(findings))
	}
	return nil
}

// NewMigration creates migrations/<UTC timestamp>_<name>.sql with goose's Up and Down sections.
// name is snake_case (add_orders). Timestamp versions never clash between
// branches; fixMigrations numbers them before merge.
func NewMigration(ctx context.Context, name string) error {
	p, err := configured()
	if err != nil {
		return err
	}
	path, err := migfiles.Create(p.Migrations, name, time.Now())
	if err != nil {
		return err
	}
	fmt.Println("created", path)
	return nil
}

// FixMigrations numbers timestamp migrations sequentially and remaps the local database's version rows to match.
// All or nothing; a second run changes nothing. -rehash records every
// numbered file in migrations.sum as it is now (accepts an intended edit);
// -force remaps even a database that isn't on this machine or APP_ENV=production.
func FixMigrations(ctx context.Context, rehash, force *bool) error {
	o, err := devDB(force)
	if err != nil {
		return err
	}
	return devdb.Fix(ctx, o, rehash != nil && *rehash)
}

// ResetDB drops, recreates and migrates the local database, then prints its version.
// Refused when the database isn't on this machine or APP_ENV=production,
// unless -force.
func ResetDB(ctx context.Context, force *bool) error {
	o, err := devDB(force)
	if err != nil {
		return err
	}
	return devdb.ResetDB(ctx, o)
}

// Seed fills the local database with development users (no real secrets); a second run adds nothing.
// Same guard and -force as resetDB; resetDB then seed gets back to a known state.
// The data is Project.Seed's SQL file, or the admin area's users.
func Seed(ctx context.Context, force *bool) error {
	o, err := devDB(force)
	if err != nil {
		return err
	}
	if p := current(); p.Seed == "" && !p.Admin {
		return errors.New("seed: this project has no seed data: set targets.Project.Seed to a SQL file of idempotent statements (INSERT ... ON CONFLICT DO NOTHING)")
	}
	return devdb.Seed(ctx, o)
}

// CheckMigrations is the gate CI, buildApp and deploy run: numbering, goose syntax, migrations.sum and lint.
// It prints one line per problem, naming the file and the fix.
func CheckMigrations(ctx context.Context) error {
	p, err := configured()
	if err != nil {
		return err
	}
	dir := p.Migrations
	problems, err := migfiles.Check(ctx, dir, lintCache(p))
	if err != nil {
		return err
	}
	warnSlowParser()
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkMigrations: %s failed: fix the lines above", dir)
	}
	fmt.Printf("checkMigrations: %s ok\n", dir)
	return nil
}

// warnSlowParser says why the lint was slow when mage was built without cgo
// and the cache didn't answer for every file.
func warnSlowParser() {
	if lint.ParserBuild() != "cgo" && lint.Parses() > 0 {
		fmt.Fprintln(os.Stderr, "lint: built without cgo, so the SQL parser runs as WebAssembly (~1.5 s and ~250 MB "+
			"to start); install gcc (CGO_ENABLED=1 is Go's default when it finds one) to make this ~50x faster")
	}
}
