package targets

import (
	"context"
	"errors"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/applogs"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/psql"
)

// ---- server ----

// Provision does the one-time server set-up over SSH: service user, folders, PostgreSQL and the env file, units, socket.
// DEPLOY_HOST is the ssh alias and DEPLOY_SSH_CONFIG the ssh config (default
// ~/.ssh/config), as for deploy; sudo is used unless the SSH user is root.
// APP_NAME, DEPLOY_PATH, APP_LISTEN, APP_USER, APP_WATCHDOG and
// APP_START_TIMEOUT shape the units. The env file (/etc/<app>/<app>.env) is
// created from a template only when missing, never overwritten. When it
// doesn't set the database URL, PostgreSQL is installed from the
// distribution's packages with the app's role and database, and the URL and
// a generated PASSWORD_PEPPER written into it (not with
// PROVISION_DATABASE=external: then env:set the URL). Running it
// again changes nothing and says so. With APP_DOMAIN (ACME_CA, ACME_EMAIL)
// it also puts Caddy in front as the HTTPS front door (docs/https.md). It
// sets up the server basics too: a firewall letting in only SSH, 80 and 443,
// unattended security upgrades, a warning when sshd lets passwords in
// (PROVISION_FIREWALL, PROVISION_UPGRADES, PROVISION_SSH_PASSWORDS:
// docs/server.md).
func Provision(ctx context.Context) error {
	o, po, err := provisionOptions()
	if err != nil {
		return err
	}
	return deploy.Provision(ctx, o, po)
}

// CreateAdmin creates the first admin on $DEPLOY_HOST's database: createAdmin you@example.com [-reset].
// It runs `app admin create` on the (first) server as the service user with
// the service's env file; the password comes from $ADMIN_PASSWORD or a
// prompt without echo and travels on stdin, never in arguments. Idempotent:
// an existing email changes nothing unless -reset. Only for an app with
// Slipway's admin area (Project.Admin).
func CreateAdmin(ctx context.Context, email string, reset *bool) error {
	p, o, err := deployOptions()
	if err != nil {
		return err
	}
	if !p.Admin {
		return errors.New("createAdmin: this app has no admin area (targets.Project.Admin is false): set Admin: true in magefile.go's targets.Configure once its main mounts Slipway's admin area")
	}
	pw, err := createadmin.Password(p.getenv, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	return exitStatus(deploy.CreateAdmin(ctx, o, createadmin.Options{Email: email, Password: pw, Reset: reset != nil && *reset, Stdout: os.Stdout}))
}

// Exec runs the live release's binary on $DEPLOY_HOST's first host: exec -- migrate status.
// ARGS go after `--`; the command runs as the service user with the
// service's env file and sandboxing, stdin forwarded; its exit status is
// the target's (`go run` reports it as "exit status N" and exits 1).
func Exec(ctx context.Context) error {
	p, o, err := deployOptions()
	if err != nil {
		return err
	}
	args, err := execArgs(p)
	if err != nil {
		return err
	}
	return exitStatus(deploy.Exec(ctx, o, args, os.Stdin, os.Stdout, os.Stderr))
}

// Psql opens psql on the app's database from $DEPLOY_HOST's first host, as the app's role: psql [-c=SQL].
// It runs on the server as the service, with DATABASE_URL from its env
// file (never in arguments or history). On a terminal it is interactive;
// -c runs one command, and piped stdin runs as a script; the exit status
// is psql's.
func Psql(ctx context.Context, c *string) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	po := psql.Options{Terminal: password.IsTerminal(os.Stdin) && password.IsTerminal(os.Stdout)}
	if c != nil {
		po.SQL = *c
	}
	return exitStatus(deploy.Psql(ctx, o, po, os.Stdin, os.Stdout, os.Stderr))
}

// exitStatus makes a remote command's exit status (ExitStatus) the
// target's.
func exitStatus(err error) error {
	var ee interface{ ExitStatus() int }
	if errors.As(err, &ee) {
		return mg.Fatal(ee.ExitStatus(), err)
	}
	return err
}

// Logs prints the app's journal from every $DEPLOY_HOST, each line prefixed with its host, in time order: logs [-f] [-n=N] [-since=T] [-grep=RE].
// -n lines per host (default 50), -since as journalctl's --since ("-10min",
// "2026-01-02 10:00"), -grep a Go regexp on the message, -f follows until
// Ctrl-C. On a terminal the app's JSON lines show as `LEVEL msg key=value`.
func Logs(ctx context.Context, f *bool, n *int, since, grep *string) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	lo := applogs.Options{Follow: f != nil && *f, Pretty: password.IsTerminal(os.Stdout)}
	if n != nil {
		lo.Lines = *n
	}
	if since != nil {
		lo.Since = *since
	}
	if grep != nil {
		lo.Grep = *grep
	}
	return deploy.Logs(ctx, o, lo)
}
