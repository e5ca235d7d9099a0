package deploy

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/applogs"
	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/createadmin"
	"github.com/slipway-dev/slipway/internal/psql"
	"github.com/slipway-dev/slipway/internal/remote"
)

// Exec runs the live release's binary with args on the first host, as
// the service (appexec.Run): stdin forwarded, its output on stdout and
// stderr. Its exit status comes back as the error's ExitStatus().
func Exec(ctx context.Context, o Options, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return onFirstHost(ctx, o, func(o Options, c *remote.Client) error {
		return appexec.Run(ctx, c, o.Service, args, stdin, stdout, stderr)
	})
}

// Psql runs psql on the app's database from the first host (psql.Run):
// on the user's terminal when po.Terminal and stdin and stdout are it.
func Psql(ctx context.Context, o Options, po psql.Options, stdin io.Reader, stdout, stderr io.Writer) error {
	return onFirstHost(ctx, o, func(o Options, c *remote.Client) error {
		return psql.Run(ctx, c, o.Service, po, stdin, stdout, stderr)
	})
}

// CreateAdmin creates (or with ao.Reset resets) an admin of the app
// through the first host (createadmin.Run).
func CreateAdmin(ctx context.Context, o Options, ao createadmin.Options) error {
	return onFirstHost(ctx, o, func(o Options, c *remote.Client) error {
		return createadmin.Run(ctx, c, o.Service, ao)
	})
}

// onFirstHost runs f connected to o.Hosts[0]: every host shares the
// database, so the commands that reach it need one.
func onFirstHost(ctx context.Context, o Options, f func(Options, *remote.Client) error) error {
	o = o.withDefaults()
	if err := o.Service.Validate(); err != nil {
		return err
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{DefaultHost}
	}
	s, err := dial(ctx, o, o.Hosts[0])
	if err != nil {
		return err
	}
	defer s.Close()
	return f(o, s.c)
}

// Logs prints the app's journal from every host (applogs.Run) on
// o.Stdout, once connected to all of them: a host that can't be reached
// fails the command before any line shows.
func Logs(ctx context.Context, o Options, lo applogs.Options) error {
	if err := lo.Check(); err != nil {
		return err
	}
	o = o.withDefaults()
	var hosts []applogs.Host
	for _, h := range o.Hosts {
		s, err := dial(ctx, o, h)
		if err != nil {
			return err
		}
		defer s.Close()
		hosts = append(hosts, applogs.Host{Alias: h, Conn: s.c})
	}
	return applogs.Run(ctx, hosts, o.Service, lo, o.Stdout)
}

// PrintBackups prints each host's backups (Backups) on o.Stdout, newest
// first, once every host has answered.
func PrintBackups(ctx context.Context, o Options) error {
	all, err := Backups(ctx, o)
	if err != nil {
		return err
	}
	o = o.withDefaults()
	for _, h := range o.Hosts {
		backup.Print(o.Stdout, h, all[h])
	}
	return nil
}
