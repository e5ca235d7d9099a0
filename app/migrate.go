package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strconv"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/migrate"
)

// migrateCmd is `app migrate ...`: the startup migration's twin for teams
// that migrate from their pipeline (with NO_MIGRATE=true on the servers).
func migrateCmd(ctx context.Context, c Config, args []string, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("migrate: missing subcommand: use status, up, up-to V, down, down-to V or version")
	}
	sub, rest := args[0], args[1:]
	want := map[string]int{"status": 0, "up": 0, "up-to": 1, "down": 0, "down-to": 1, "version": 0}
	n, ok := want[sub]
	if !ok {
		return fmt.Errorf("migrate: unknown subcommand %q: use status, up, up-to V, down, down-to V or version", sub)
	}
	if len(rest) != n {
		return fmt.Errorf("migrate %s: takes %d argument(s), got %d", sub, n, len(rest))
	}
	var target int64
	if n == 1 {
		v, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("migrate %s: %q is not a version number: use e.g. `app migrate %s 3`", sub, rest[0], sub)
		}
		target = v
	}
	d, err := open(ctx, c, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()

	var res migrate.Result
	switch sub {
	case "status":
		return printStatus(ctx, d.m, stdout)
	case "version":
		v, err := d.m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
		return nil
	case "up":
		res, err = d.m.Up(ctx)
	case "up-to":
		if target == 0 {
			return fmt.Errorf("migrate up-to: version must be at least 1")
		}
		res, err = d.m.UpTo(ctx, target)
	case "down":
		res, err = d.m.Down(ctx)
	case "down-to":
		res, err = d.m.DownTo(ctx, target)
	}
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintln(stdout, "nothing to do: the database is already there")
		return nil
	}
	verb := "applied"
	if sub == "down" || sub == "down-to" {
		verb = "rolled back"
	}
	for _, f := range res.Applied {
		fmt.Fprintf(stdout, "%s %s\n", verb, f)
	}
	fmt.Fprintf(stdout, "version %d -> %d\n", res.From, res.To)
	return nil
}

func printStatus(ctx context.Context, m *migrate.Migrator, w io.Writer) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT (UTC)\tFILE")
	for _, s := range st {
		at := "-"
		if !s.AppliedAt.IsZero() {
			at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, path.Base(s.Source.Path))
	}
	return tw.Flush()
}
