package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/users"
	"github.com/slipway-dev/slipway/internal/version"
)

// adminArea is Config.Admin's part of serve: the admin area's handlers, or
// admin.Disabled saying why when PASSWORD_PEPPER is unset.
func adminArea(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) (*admin.Handlers, error) {
	if cfg.PasswordPepper == "" {
		log.Warn("admin area disabled: PASSWORD_PEPPER is not set")
		return admin.Disabled("PASSWORD_PEPPER is not set in the service's environment"), nil
	}
	hasher, err := password.New(cfg.PasswordPepper, password.Default)
	if err != nil {
		return nil, err
	}
	auth, err := admin.NewAuth(pool, hasher, admin.AuthOptions{
		Gate: admin.NewGate(cfg.LoginHashConcurrency, admin.DefaultHashWait)})
	if err != nil {
		return nil, err
	}
	limitMemory(cfg.LoginHashConcurrency, log)
	return admin.New(auth, pool, log, version.Get(), admin.Options{Proxies: cfg.TrustedProxies, InsecureCookies: cfg.CookieInsecure}), nil
}

// limitMemory sets Go's soft memory limit, unless GOMEMLIMIT did, to the
// hashes that may run at once (LOGIN_HASH_CONCURRENCY, and the slot kept
// for known browsers) plus headroom for the rest of the app. Each
// hash leaves 64 MiB of garbage; without a limit the collector lets the
// heap grow to twice what was live before collecting, which doubled the
// peak of a login flood (measured by `go run mage.go bench:login`). A soft
// limit makes it collect sooner; it never refuses an allocation.
func limitMemory(hashes int, log *slog.Logger) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return // GOMEMLIMIT is set
	}
	limit := int64(hashes+1)*admin.HashMemory + 64<<20 // +1: the known browsers' slot
	debug.SetMemoryLimit(limit)
	log.Debug("Go memory limit", "bytes", limit)
}

// adminCmd is `app admin create -email E [-reset-password]`: the permanent,
// idempotent way to make the first admin, run on the server by createAdmin.
// The password comes on stdin only: argv is visible to every user in ps.
func adminCmd(ctx context.Context, c Config, args []string, cfg config.Config, log *slog.Logger, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("admin: use `app admin create -email you@example.com` (password on stdin)")
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	emailFlag := fs.String("email", "", "the admin's email")
	reset := fs.Bool("reset-password", false, "set a new password for an existing user")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("admin create: %v: use `app admin create -email you@example.com [-reset-password]`", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("admin create: unexpected argument %q: the password is read from stdin, never from arguments", fs.Arg(0))
	}
	email, err := users.NormaliseEmail(*emailFlag)
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	hasher, err := password.New(cfg.PasswordPepper, password.Default)
	if err != nil {
		return err
	}
	d, err := open(ctx, c, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	// The users table may not exist yet on a server that never started.
	if _, err := d.m.Up(ctx); err != nil {
		return err
	}
	store := users.NewStore(d.pool)
	existing, err := store.ByEmail(ctx, email)
	switch {
	case err == nil && !*reset:
		what := "admin"
		if !existing.IsAdmin {
			what = "user (not an admin)"
		}
		fmt.Fprintf(stdout, "%s %s already exists: nothing changed (pass -reset-password to set a new password)\n", what, email)
		return nil
	case errors.Is(err, users.ErrNotFound) && *reset:
		return fmt.Errorf("admin create: no user %s to reset: drop -reset-password to create it", email)
	case err != nil && !errors.Is(err, users.ErrNotFound):
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := password.CheckStrength(pw, email); err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	hash, err := hasher.Hash(pw)
	if err != nil {
		return err
	}
	if *reset {
		if err := store.SetPassword(ctx, email, hash); err != nil {
			return err
		}
		log.Info("admin password reset", "email", email)
		fmt.Fprintf(stdout, "password reset for %s; their sessions and device cookies were ended\n", email)
		// The owner's way in while an attack keeps new browsers out: the
		// link is printed here only, never logged.
		u, err := store.ByEmail(ctx, email)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "to log in from a new browser even while logins are throttled, open within %g minutes: <your site>%s\n",
			admin.EnrolTTL.Minutes(), admin.EnrolLink(hasher, email, u.DeviceEpoch))
		return nil
	}
	created, err := store.CreateAdmin(ctx, email, hash)
	if err != nil {
		return err
	}
	if !created { // another run won the race since ByEmail
		fmt.Fprintf(stdout, "admin %s already exists: nothing changed (pass -reset-password to set a new password)\n", email)
		return nil
	}
	log.Info("admin created", "email", email)
	fmt.Fprintf(stdout, "created admin %s\n", email)
	return nil
}

// readPassword prompts twice without echo on a terminal, else reads one
// line from stdin (a pipe from createAdmin or a script).
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && password.IsTerminal(f) {
		pw, err := password.Prompt(f, prompt, "Password")
		if err != nil {
			return "", fmt.Errorf("admin create: %w", err)
		}
		return pw, nil
	}
	if stdin == nil {
		return "", errors.New("admin create: no password: pipe it on stdin")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("admin create: no password on stdin: pipe it in, one line")
	}
	return line, nil
}
