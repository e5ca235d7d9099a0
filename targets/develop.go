package targets

import (
	"context"
	"log/slog"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/dev"
	"github.com/slipway-dev/slipway/internal/magelog"
)

// ---- develop ----

// Dev runs the app on http://127.0.0.1:8080 against a local PostgreSQL kept in .dev/ (or DATABASE_URL).
// Migrations are applied at startup; Ctrl-C stops the app and the database.
func Dev(ctx context.Context) error {
	p, err := configured()
	if err != nil {
		return err
	}
	return dev.Run(ctx, dev.Options{Root: root(), Package: p.Main, DatabaseURL: p.DatabaseURL, Getenv: p.getenv, Stdout: os.Stdout, Stderr: os.Stderr})
}

// root is the module root: mage runs targets from the magefile's folder.
func root() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}

// ---- build ----

// BuildApp builds bin/app: a static, stripped, reproducible linux binary, verified and checksummed.
// -goarch=arm64 builds for arm64 servers. The default is amd64, or $GOARCH
// with a compiled mage binary: `GOARCH=arm64 go run mage.go` can't work, it
// would build mage itself for arm64. The binary is bin/<Project.Name>, built
// from Project.Main.
func BuildApp(ctx context.Context, goarch *string) error {
	p, err := configured()
	if err != nil {
		return err
	}
	mg.CtxDeps(ctx, CheckMigrations)
	_, err = build.Run(ctx, build.Options{GOARCH: targetArch(goarch), Package: p.Main, Output: p.Binary(), DatabaseURL: p.stampedURL(), Stdout: os.Stdout, Log: targetLog()})
	return err
}

// targetArch picks the -goarch flag, then $GOARCH, then amd64.
func targetArch(flag *string) string { return magelog.Arch(flag) }

// targetLog is every target's logger, for details, shown with mage -v.
func targetLog() *slog.Logger { return magelog.Logger() }
