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

// Prepare restores backup b into a fresh database beside the live one and
// checks it holds b's schema version. The live database and the app are
// untouched: stopped here, for whatever reason, a restore changed nothing.
// A damaged dump is refused before any database is created.
func (s Server) Prepare(ctx context.Context, b Info) (time.Duration, error) {
	// The swap's helper is built and on the server before the swap begins:
	// from there the swap is one round trip, and a client killed once the
	// swap began has already handed it to the server.
	if _, err := client.Ready(ctx, s.R); err != nil {
		return 0, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	out, err := service.Detached(ctx, s.R, s.C, "restore-prepare-"+b.ID, "restore "+b.ID+" into a fresh database", maxRun, withURLVar(s.C, prepareScript),
		s.C.AppName, s.C.DeployPath, s.C.EnvFile(), s.C.ServiceUser, b.ID, strconv.FormatInt(b.Schema, 10))
	if err != nil {
		return 0, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	kv, err := result(out)
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
// starts release on it (helper.Swap, the handover's switch code): the app
// is down from the stop of its instances until release is ready,
// connections queue on the socket meanwhile. A release that doesn't get
// ready undoes it all. logLine starts the deploy.log line.
func (s Server) Swap(ctx context.Context, release, logLine string) (SwapResult, error) {
	maxSwap := s.C.StartTimeout + 3*s.C.StopTimeout + 5*time.Minute
	d, err := service.DetachedJob(s.C, "restore-swap-"+release, "swap in the restored database, start "+release, maxSwap)
	if err != nil {
		return SwapResult{}, fmt.Errorf("restore on %s: %w", s.Alias, err)
	}
	out, err := client.Call(ctx, s.R, "restore-swap", helper.SwapArgs{
		Detached: d, App: s.C.AppName, DeployPath: s.C.DeployPath, EnvFile: s.C.EnvFile(), URLVar: s.C.DatabaseURLVar(),
		Release: release, ReadyTimeoutMS: s.C.StartTimeout.Milliseconds(), LogLine: logLine,
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
