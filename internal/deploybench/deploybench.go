// Package deploybench measures a whole deploy, Slipway's against the seed's
// plain flow, on one sandbox in one run: the wall time of deploying a new
// binary and the same binary again, the bytes each sends, and failed
// requests and latency over a series of deploys under constant load.
//
// The seed's flow is what the project did before Slipway: `scp bin/app
// <alias>:/home/admin` with OpenSSH, and a plain systemd unit (no socket
// activation, the app binds its port) restarted around it. Copying over a
// running binary fails ("Text file busy"), so it is stop, copy, start.
package deploybench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/service"
)

// Options configures Run.
type Options struct {
	// Root is the repository the app is built from ("" is ".").
	Root string
	// Binary, when set, is deployed instead of a build of Root: a static
	// linux binary of the app for this machine's architecture.
	Binary string
	// Sandbox is a running sandbox to measure on. Nil boots one for the run,
	// with SandboxOptions, and stops it after.
	Sandbox        *sandbox.Instance
	SandboxOptions []sandbox.Option
	// Deploys under load per flow (default 10); Rate the load in requests
	// per second on /readyz (default 100); Runs how many times each quiet
	// deploy is timed, medians reported (default 3); Gap the steady load
	// before each deploy and after the last (default 1s).
	Deploys, Rate, Runs int
	Gap                 time.Duration
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Result holds both flows' figures.
type Result struct {
	Deploys, Rate, Runs int
	// BinarySize is the deployed binary's size.
	BinarySize int64
	// Slipway is `deploy`; Seed the seed's stop, scp, start.
	Slipway, Seed Flow
}

// Flow is one way of deploying, measured.
type Flow struct {
	// Cold is the median wall time of deploying a binary the server has
	// never seen; Unchanged of deploying the same binary again. Both end when
	// the new binary answers /readyz.
	Cold, Unchanged time.Duration
	// ColdBinary and UnchangedBinary are the bytes of binary sent.
	ColdBinary, UnchangedBinary int64
	// ColdSSH and UnchangedSSH are all bytes sent to the server's sshd
	// (handshakes, commands, the binary), counted on the TCP connections.
	ColdSSH, UnchangedSSH int64
	// Load is the load over Deploys deploys, each of a new binary.
	Load service.LoadResult
}

func (o Options) withDefaults() Options {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Deploys <= 0 {
		o.Deploys = 10
	}
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Gap <= 0 {
		o.Gap = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Run measures the seed's flow, then Slipway's, on the same sandbox. With
// Options.Sandbox set it leaves Slipway's service there, serving, and
// removes the seed's unit and binary.
func Run(ctx context.Context, o Options) (res Result, err error) {
	o = o.withDefaults()
	res = Result{Deploys: o.Deploys, Rate: o.Rate, Runs: o.Runs}
	tmp, err := os.MkdirTemp("", "slipway-benchdeploy-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	bin := o.Binary
	if bin == "" {
		bin = filepath.Join(tmp, "app")
		if _, err := build.Run(ctx, build.Options{Dir: o.Root, GOARCH: runtime.GOARCH, Output: bin, Log: o.Log}); err != nil {
			return res, err
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return res, err
	}
	res.BinarySize = st.Size()
	inst := o.Sandbox
	if inst == nil {
		if inst, err = boot(ctx, o, tmp); err != nil {
			return res, err
		}
		defer func() {
			// A fresh context: ctx may be what ended the run.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err = errors.Join(err, inst.Stop(sctx))
		}()
	}
	b, err := setUp(ctx, o, inst, bin, tmp)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, b.close()) }()
	if res.Seed, err = b.measure(ctx, b.seed()); err != nil {
		return res, fmt.Errorf("seed flow: %w", err)
	}
	if res.Slipway, err = b.measure(ctx, b.slipway()); err != nil {
		return res, fmt.Errorf("slipway deploy: %w", err)
	}
	return res, nil
}

// boot starts a sandbox of the run's own, stopped by the caller.
func boot(ctx context.Context, o Options, tmp string) (*sandbox.Instance, error) {
	opts := slices.Concat(o.SandboxOptions, []sandbox.Option{
		sandbox.WithName("benchdeploy-" + strconv.Itoa(os.Getpid())),
		sandbox.WithStateDir(filepath.Join(tmp, "sandbox")),
		sandbox.WithStopOnExit(),
	})
	sb, err := sandbox.New(o.Log, opts...)
	if err != nil {
		return nil, err
	}
	return sb.Up(ctx)
}

// measure times Runs quiet deploys of a new binary, each followed by the
// same binary again, then deploys Deploys new binaries under load.
func (b *bench) measure(ctx context.Context, f flow) (Flow, error) {
	var res Flow
	// The server's first deploy of a flow (migrations, first release) is
	// not what a release costs: leave it out.
	first, err := b.variant()
	if err != nil {
		return res, err
	}
	if _, err := f.deploy(ctx, first); err != nil {
		return res, fmt.Errorf("first deploy: %w", err)
	}
	var cold, unchanged []time.Duration
	var coldBin, unchangedBin, coldSSH, unchangedSSH []int64
	for i := range b.o.Runs {
		bin, err := b.variant()
		if err != nil {
			return res, err
		}
		for _, m := range []struct {
			name string
			d    *[]time.Duration
			bin  *[]int64
			ssh  *[]int64
		}{{"cold", &cold, &coldBin, &coldSSH}, {"unchanged", &unchanged, &unchangedBin, &unchangedSSH}} {
			before := b.proxy.sent()
			start := time.Now()
			sent, err := f.deploy(ctx, bin)
			if err != nil {
				return res, fmt.Errorf("%s deploy %d: %w", m.name, i+1, err)
			}
			d := time.Since(start)
			b.proxy.waitIdle()
			*m.d, *m.bin, *m.ssh = append(*m.d, d), append(*m.bin, sent), append(*m.ssh, b.proxy.sent()-before)
			b.o.Log.Info("deployed", "flow", f.name, "kind", m.name, "run", i+1, "took", d.Round(time.Millisecond))
		}
	}
	res.Cold, res.Unchanged = median(cold), median(unchanged)
	res.ColdBinary, res.UnchangedBinary = median(coldBin), median(unchangedBin)
	res.ColdSSH, res.UnchangedSSH = median(coldSSH), median(unchangedSSH)

	load := service.StartLoad(ctx, f.url+"/readyz", b.o.Rate)
	for i := 1; i <= b.o.Deploys; i++ {
		bin, err := b.variant()
		if err != nil {
			load.Stop()
			return res, err
		}
		time.Sleep(b.o.Gap)
		start := time.Now()
		if _, err := f.deploy(ctx, bin); err != nil {
			load.Stop()
			return res, fmt.Errorf("deploy %d under load: %w", i, err)
		}
		b.o.Log.Info("deployed", "flow", f.name, "kind", "under load", "deploy", i, "took", time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(b.o.Gap)
	res.Load = load.Stop()
	b.o.Log.Info("load", "flow", f.name, "result", res.Load.String())
	return res, f.stop(ctx)
}

func median[T int64 | time.Duration](s []T) T {
	return slices.Sorted(slices.Values(s))[len(s)/2]
}
