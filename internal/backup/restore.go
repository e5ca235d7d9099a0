package backup

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Prepared is a backup restored into a fresh database by Prepare.
type Prepared struct {
	Duration time.Duration
	// Database is the live database; Fresh the restored copy beside it.
	Database, Fresh string
	// PGHost and PGPort are how the server's local postgres superuser
	// reaches them ("-": libpq's default).
	PGHost, PGPort string
}

// Prepare restores backup b into a fresh database beside the live one and
// checks it holds b's schema version. The live database and the app are
// untouched: stopped here, for whatever reason, a restore changed nothing.
// A damaged dump is refused before any database is created.
func (s Server) Prepare(ctx context.Context, b Info) (Prepared, error) {
	args := helper.RestorePrepareArgs{DBArgs: s.dbArgs(), ID: b.ID, Schema: b.Schema}
	var err error
	if args.Detached, err = s.detached("restore-prepare-"+b.ID, "restore "+b.ID+" into a fresh database"); err != nil {
		return Prepared{}, err
	}
	kv, err := s.call(ctx, "restore-prepare", args)
	if err != nil {
		return Prepared{}, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	ms, _ := strconv.ParseInt(kv["duration_ms"], 10, 64)
	p := Prepared{Duration: time.Duration(ms) * time.Millisecond, Database: kv["live"], Fresh: kv["database"], PGHost: kv["pghost"], PGPort: kv["pgport"]}
	if p.Database == "" || p.Fresh != p.Database+"_restore" {
		return p, fmt.Errorf("restore on %s: the server's helper did not say which database it restored into: %v", s.Alias, kv)
	}
	return p, nil
}

// SwapResult is what Swap did.
type SwapResult struct {
	Downtime time.Duration // from stopping the instances to release ready
	Steps    []string
}

// Swap puts the database Prepare restored in place of the live one and
// starts release on it (helper.Swap, the handover's switch code): the app
// is down from the stop of its instances until release is ready,
// connections queue on the socket meanwhile. A release that doesn't get
// ready undoes it all. logLine starts the deploy.log line.
func (s Server) Swap(ctx context.Context, p Prepared, release, logLine string) (SwapResult, error) {
	maxSwap := s.C.StartTimeout + 3*s.C.StopTimeout + 5*time.Minute
	d, err := service.DetachedJob(s.C, "restore-swap-"+release, "swap in the restored database, start "+release, maxSwap)
	if err != nil {
		return SwapResult{}, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	// The job and worker units of the release it starts (docs/jobs.md).
	d.Properties = append(d.Properties, "ReadWritePaths=-"+service.UnitDir)
	out, err := client.Call(ctx, s.R, "restore-swap", helper.SwapArgs{
		Detached: d, App: s.C.AppName, DeployPath: s.C.DeployPath, EnvFile: s.C.EnvFile(), URLVar: s.C.DatabaseURLVar(),
		Release: release, ReadyTimeoutMS: s.C.StartTimeout.Milliseconds(), LogLine: logLine,
		Procs: service.ProcUnits(s.C),
	})
	res := SwapResult{Steps: steps(out)}
	if kv, rerr := result(out); rerr == nil || bytes.Contains(out, []byte("result ")) {
		// The step's own lines say what happened, a failure included.
		if rerr != nil {
			return res, fmt.Errorf("restore on %s: %w", s.Alias, rerr)
		}
		ms, _ := strconv.ParseInt(kv["downtime_ms"], 10, 64)
		res.Downtime = time.Duration(ms) * time.Millisecond
		return res, nil
	}
	if err == nil {
		err = fmt.Errorf("no result in the server's output")
	}
	return res, fmt.Errorf("restore on %s: %w", s.Alias, err)
}

func quote(s string) string { return remote.Quote(s) }
