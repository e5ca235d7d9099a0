//go:build mage

// Slipway's release automation. This file is a table of contents: each target
// is a doc comment (its first sentence is the `go run mage.go -l` help line)
// and a few lines calling the internal/ package that does the work.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/lint"
)

// Keep mage in go.mod: only mage.go (build-ignored) imports it otherwise.
var _ mg.Namespace

// ---- build ----

// BuildApp builds bin/app: a static, stripped, reproducible linux binary, verified and checksummed.
// -goarch=arm64 builds for arm64 servers. The default is amd64, or $GOARCH
// with a compiled mage binary: `GOARCH=arm64 go run mage.go` can't work, it
// would build mage itself for arm64.
func BuildApp(ctx context.Context, goarch *string) error {
	_, err := build.Run(ctx, build.Options{GOARCH: targetArch(goarch), Stdout: os.Stdout, Log: buildLog()})
	return err
}

// BenchBuild times buildApp against the plain go build it wraps and compares binary sizes.
// -goarch as for buildApp; -runs sets the timed runs per command (default 5).
func BenchBuild(ctx context.Context, goarch *string, runs *int) error {
	opts := build.BenchOptions{GOARCH: targetArch(goarch), Stdout: os.Stdout, Log: buildLog()}
	if runs != nil {
		opts.Runs = *runs
	}
	_, err := build.Bench(ctx, opts)
	return err
}

// targetArch picks the -goarch flag, then $GOARCH, then amd64.
func targetArch(flag *string) string {
	if flag != nil {
		return *flag
	}
	return os.Getenv("GOARCH")
}

// buildLog shows the exact go command with mage -v.
func buildLog() *slog.Logger {
	level := slog.LevelInfo
	if mg.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// ---- sandbox ----

// ---- migrations ----

// LintMigrations checks that each migration is safe to apply while the old binary keeps serving.
// It parses the Up section of every file in $MIGRATIONS_DIR (default
// migrations/), prints `path:line: rule: message` findings and fails if there
// are any. A statement opts out with `-- slipway:allow <rule> <reason>`.
func LintMigrations(ctx context.Context) error {
	dir := os.Getenv("MIGRATIONS_DIR")
	if dir == "" {
		dir = "migrations"
	}
	findings, err := lint.Dir(ctx, dir)
	if err != nil {
		return err
	}
	for _, f := range findings {
		fmt.Println(f)
	}
	if len(findings) > 0 {
		return fmt.Errorf("%d findings", len(findings))
	}
	return nil
}

// BenchLint times lintMigrations on 500 generated migrations, and squawk on the same files.
// -squawk is the squawk binary (default: squawk on PATH); -files the number of files.
func BenchLint(ctx context.Context, squawk *string, files *int) error {
	opts := lint.BenchOptions{Stdout: os.Stdout}
	if squawk != nil {
		opts.Squawk = *squawk
	}
	if files != nil {
		opts.Files = *files
	}
	_, err := lint.Bench(ctx, opts)
	return err
}
