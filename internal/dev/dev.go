// Package dev runs the app for development: against DATABASE_URL when set,
// else against a local PostgreSQL cluster kept in .dev/ (git-ignored), whose
// data survives restarts, connected as the plain role that owns the
// database (Role), never as the cluster's superuser.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/pgcluster"
)

// DatabaseName is the database the local cluster holds for the app.
const DatabaseName = "slipway"

// Database is a development database: its URL and how to let go of it.
type Database struct {
	// URL is what the app and the development tools connect with: as Role
	// for the local cluster.
	URL string
	// Admin administers the server URL is on (creates and drops
	// databases): the local cluster's superuser, on its postgres database;
	// DATABASE_URL itself when set. Never for running the app's SQL.
	Admin string
	// Local is true for the cluster in .dev/, false for DATABASE_URL.
	Local bool
	// Release stops the local cluster if this call started it; a cluster
	// already running (a `dev` in another terminal) is left running.
	Release func() error
}

// LocalDatabase returns DATABASE_URL when set (its role is the user's
// choice), else starts (or reuses) the local cluster under root/.dev/pg
// and makes sure its database exists, owned by Role, which URL logs in as.
func LocalDatabase(ctx context.Context, root string, getenv func(string) string) (*Database, error) {
	if u := getenv("DATABASE_URL"); u != "" {
		return &Database{URL: u, Admin: u, Release: func() error { return nil }}, nil
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(root, ".dev", "pg")})
	if err != nil {
		return nil, fmt.Errorf("local PostgreSQL: %w", err)
	}
	release := func() error { return nil }
	if !c.Reused() {
		release = c.Stop
	}
	if err := prepare(ctx, c.URL("postgres"), c.URL(DatabaseName), DatabaseName); err != nil {
		_ = release()
		return nil, err
	}
	return &Database{URL: c.URLAs(Role, DatabaseName), Admin: c.URL("postgres"), Local: true, Release: release}, nil
}

// Options configures Run.
type Options struct {
	Root string // repository root
	// Package is the app's main package relative to Root; "" is build.Package.
	Package string
	// DatabaseURL is the variable the app reads its database URL from, set
	// in its environment; "" is DATABASE_URL.
	DatabaseURL string
	// Getenv reads the settings; its "DATABASE_URL" is the database to use
	// instead of the local cluster.
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// Run builds the app, runs it until ctx is cancelled (Ctrl-C) or it exits,
// then stops it and the local cluster cleanly.
func Run(ctx context.Context, o Options) (err error) {
	db, err := LocalDatabase(ctx, o.Root, o.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := db.Release(); rerr != nil && err == nil {
			err = fmt.Errorf("stop local PostgreSQL: %w", rerr)
		}
	}()
	bin := filepath.Join(o.Root, ".dev", "app")
	// The release build for this machine, unstamped as a dev build is: the
	// tree needn't be a git checkout.
	stamp := o.DatabaseURL
	if stamp == "DATABASE_URL" {
		stamp = "" // the runtime's default: our own builds stay as they were
	}
	if _, err := build.Run(ctx, build.Options{Dir: o.Root, Package: o.Package, GOARCH: runtime.GOARCH, Output: bin, Version: "dev", Commit: "unknown", DatabaseURL: stamp, Stdout: o.Stdout}); err != nil {
		return fmt.Errorf("build app: %w", err)
	}
	addr := o.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	pepper, err := devPepper(o.Root, o.Getenv)
	if err != nil {
		return err
	}
	urlVar := o.DatabaseURL
	if urlVar == "" {
		urlVar = "DATABASE_URL"
	}
	app := exec.Command(bin)
	app.Env = append(os.Environ(), urlVar+"="+db.URL, "ADDR="+addr, "PASSWORD_PEPPER="+pepper,
		// Plain http on loopback: browsers other than Chromium and Firefox
		// (and curl's or Go's cookie jars) drop Secure cookies there. The
		// app refuses this setting anywhere but on loopback.
		"COOKIE_INSECURE=true")
	app.Stdout, app.Stderr = o.Stdout, o.Stderr
	if err := app.Start(); err != nil {
		return fmt.Errorf("start app: %w", err)
	}
	where := urlVar
	if db.Local {
		where = db.URL
	}
	fmt.Fprintf(o.Stdout, "dev: app on http://%s (database %s); Ctrl-C stops it\n", addr, where)
	done := make(chan error, 1)
	go func() { done <- app.Wait() }()
	select {
	case err := <-done:
		return appExit(err)
	case <-ctx.Done():
	}
	_ = app.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err := appExit(err); err != nil {
			return err
		}
	case <-time.After(4 * time.Second):
		_ = app.Process.Kill()
		<-done
	}
	fmt.Fprintln(o.Stdout, "dev: stopped")
	return nil
}

func appExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return fmt.Errorf("app exited with status %d", ee.ExitCode())
	}
	if err != nil && !errors.As(err, &ee) {
		return err
	}
	return nil // killed by the signal we, or the terminal, sent
}

// devPepper is PASSWORD_PEPPER when set, else a random one generated once
// into .dev/pepper (git-ignored), so `dev` needs no set-up and no secret
// ever sits in the repository.
func devPepper(root string, getenv func(string) string) (string, error) {
	if p := getenv("PASSWORD_PEPPER"); p != "" {
		return p, nil
	}
	path := filepath.Join(root, ".dev", "pepper")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 16 {
		return string(b), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	p := base64.RawStdEncoding.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(path, []byte(p), 0o600)
}
