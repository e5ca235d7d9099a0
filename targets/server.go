package targets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/applogs"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/psql"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
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
// it also puts Caddy in front as the HTTPS front door (docs/https.md).
func Provision(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	fd, err := frontdoor.FromEnv(os.Getenv, o.Service)
	if err != nil {
		return err
	}
	var po service.ProvisionOptions
	switch v := os.Getenv("PROVISION_DATABASE"); v {
	case "", "local":
	case "external":
		po.ExternalDatabase = true
	default:
		return fmt.Errorf("PROVISION_DATABASE=%q: use external (the database is elsewhere: set its URL with env:set) or leave it unset", v)
	}
	for _, host := range o.Hosts {
		fmt.Fprintf(os.Stdout, "provision %s\n", host)
		c, err := remote.Dial(ctx, remote.Options{Alias: host, ConfigPath: o.SSHConfig, Log: targetLog()})
		if err != nil {
			return err
		}
		_, err = deploy.CheckLayout(ctx, c, o.Service, host)
		if err == nil {
			_, err = service.ProvisionWith(ctx, c, o.Service, po, os.Stdout)
		}
		if err == nil && fd.Enabled() {
			_, err = frontdoor.Provision(ctx, c, fd, os.Stdout)
		}
		if err == nil {
			var changed bool
			if changed, err = deploy.StampLayout(ctx, c, o.Service); changed {
				fmt.Fprintf(os.Stdout, "changed: %s/%s stamped %s (app %s)\n", o.Service.DeployPath, slipversion.File, slipversion.Current(), o.Service.AppName)
			}
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("provision %s: %w", host, err)
		}
	}
	return nil
}

// CreateAdmin creates the first admin on $DEPLOY_HOST's database: createAdmin you@example.com [-reset].
// It runs `app admin create` on the (first) server as the service user with
// the service's env file; the password comes from $ADMIN_PASSWORD or a
// prompt without echo and travels on stdin, never in arguments. Idempotent:
// an existing email changes nothing unless -reset. Only for an app with
// Slipway's admin area (Project.Admin).
func CreateAdmin(ctx context.Context, email string, reset *bool) error {
	p, _, err := deployOptions()
	if err != nil {
		return err
	}
	if !p.Admin {
		return errors.New("createAdmin: this app has no admin area (targets.Project.Admin is false): set Admin: true in magefile.go's targets.Configure once its main mounts Slipway's admin area")
	}
	pw, err := createadmin.Password(os.Getenv, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	return onFirstHost(ctx, func(o deploy.Options, c *remote.Client) error {
		return createadmin.Run(ctx, c, o.Service, createadmin.Options{Email: email, Password: pw, Reset: reset != nil && *reset, Stdout: os.Stdout})
	})
}

// Exec runs the live release's binary on $DEPLOY_HOST's first host: exec -- migrate status.
// ARGS go after `--`; the command runs as the service user with the
// service's env file and sandboxing, stdin forwarded; its exit status is
// the target's (`go run` reports it as "exit status N" and exits 1).
func Exec(ctx context.Context) error {
	var args []string
	if v := os.Getenv("SLIPWAY_EXEC_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			return fmt.Errorf("SLIPWAY_EXEC_ARGS: %v", err)
		}
	}
	return onFirstHost(ctx, func(o deploy.Options, c *remote.Client) error {
		return appexec.Run(ctx, c, o.Service, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// Psql opens psql on the app's database from $DEPLOY_HOST's first host, as the app's role: psql [-c=SQL].
// It runs on the server as the service, with DATABASE_URL from its env
// file (never in arguments or history). On a terminal it is interactive;
// -c runs one command, and piped stdin runs as a script; the exit status
// is psql's.
func Psql(ctx context.Context, c *string) error {
	po := psql.Options{Terminal: password.IsTerminal(os.Stdin) && password.IsTerminal(os.Stdout)}
	if c != nil {
		po.SQL = *c
	}
	return onFirstHost(ctx, func(o deploy.Options, cl *remote.Client) error {
		return psql.Run(ctx, cl, o.Service, po, os.Stdin, os.Stdout, os.Stderr)
	})
}

// onFirstHost runs f connected to $DEPLOY_HOST's first host (every host
// shares the database); a command's exit status (ExitStatus) becomes the
// target's.
func onFirstHost(ctx context.Context, f func(deploy.Options, *remote.Client) error) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	c, err := remote.Dial(ctx, remote.Options{Alias: o.Hosts[0], ConfigPath: o.SSHConfig, Log: targetLog()})
	if err != nil {
		return err
	}
	defer c.Close()
	err = f(o, c)
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
	if err := lo.Check(); err != nil {
		return err
	}
	var hosts []applogs.Host
	for _, h := range o.Hosts {
		c, err := remote.Dial(ctx, remote.Options{Alias: h, ConfigPath: o.SSHConfig, Log: targetLog()})
		if err != nil {
			return err
		}
		defer c.Close()
		hosts = append(hosts, applogs.Host{Alias: h, Conn: c})
	}
	return applogs.Run(ctx, hosts, o.Service, lo, os.Stdout)
}

// deployOptions validates the project, then reads the DEPLOY_* and APP_*
// settings over it: APP_NAME defaults to Project.Name, the binary is
// bin/<Name>, the env file's database URL variable Project.DatabaseURL.
func deployOptions() (Project, deploy.Options, error) {
	p, err := configured()
	if err != nil {
		return p, deploy.Options{}, err
	}
	o, err := deploy.FromEnv(p.getenv)
	o.Binary = p.Binary()
	o.Service.DatabaseURL = p.DatabaseURL
	o.Stdout, o.Log = os.Stdout, targetLog()
	return p, o, err
}
