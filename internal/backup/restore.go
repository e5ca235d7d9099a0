package backup

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Prepare restores backup b into a fresh database beside the live one and
// checks it holds b's schema version. The live database and the app are
// untouched: stopped here, for whatever reason, a restore changed nothing.
// A damaged dump is refused before any database is created.
func (s Server) Prepare(ctx context.Context, b Info) (time.Duration, error) {
	kv, err := s.call(ctx, "restore-prepare", helper.RestorePrepareArgs{DBArgs: s.dbArgs(), ID: b.ID, Schema: b.Schema})
	if err != nil {
		return 0, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	ms, _ := strconv.ParseInt(kv["duration_ms"], 10, 64)
	return time.Duration(ms) * time.Millisecond, nil
}

// SwapResult is what Swap did.
type SwapResult struct {
	Downtime time.Duration // from stopping the instances to release ready
	Steps    []string
}

// Swap puts the database Prepare restored in place of the live one and
// starts release on it (see swapScript): the app is down from the stop of
// its instances until release is ready, connections queue on the socket
// meanwhile. A release that doesn't get ready undoes it all. logLine starts
// the deploy.log line.
func (s Server) Swap(ctx context.Context, release, logLine string) (SwapResult, error) {
	// The database's name, and how the local postgres superuser reaches its
	// server, read by the helper from the env file (pgenv's parser).
	db, err := s.call(ctx, "backup-database", helper.BackupDatabaseArgs{DBArgs: s.dbArgs()})
	if err != nil {
		return SwapResult{}, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	maxSwap := s.C.StartTimeout + 3*s.C.StopTimeout + 5*time.Minute
	out, err := service.Detached(ctx, s.R, s.C, "restore-swap-"+release, "swap in the restored database, start "+release, maxSwap, swapScript,
		s.C.AppName, s.C.DeployPath, db["database"], db["pghost"], db["pgport"], release, dash(logLine))
	res := SwapResult{Steps: steps(out)}
	if err != nil {
		return res, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	kv, err := result(out)
	if err != nil {
		return res, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	ms, _ := strconv.ParseInt(kv["downtime_ms"], 10, 64)
	res.Downtime = time.Duration(ms) * time.Millisecond
	return res, nil
}

func quote(s string) string { return remote.Quote(s) }
