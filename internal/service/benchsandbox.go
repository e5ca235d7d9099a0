package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
)

// SandboxBenchOptions configures BenchOnSandbox.
type SandboxBenchOptions struct {
	// Root is the repository root the app is built from.
	Root string
	// Deploys and Rate as in BenchOptions.
	Deploys, Rate int
	// Sandbox adds options (cache dir, mirror) to the bench's own sandbox.
	Sandbox []sandbox.Option
	Out     io.Writer
	Log     *slog.Logger
}

// BenchOnSandbox runs Bench on a sandbox of its own, booted for the run and
// stopped after: it builds the app, provisions the sandbox, points the env
// file at the sandbox's database and deploys. The load comes from this
// machine, which shares the sandbox's network.
func BenchOnSandbox(ctx context.Context, o SandboxBenchOptions) (res BenchResult, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	tmp, err := os.MkdirTemp("", "slipway-benchrestart-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "app")
	if _, err := build.Run(ctx, build.Options{Dir: o.Root, GOARCH: runtime.GOARCH, Output: bin, Log: o.Log}); err != nil {
		return res, err
	}
	opts := append(o.Sandbox,
		sandbox.WithName("benchrestart-"+strconv.Itoa(os.Getpid())),
		sandbox.WithStateDir(filepath.Join(tmp, "sandbox")),
		sandbox.WithStopOnExit())
	sb, err := sandbox.New(o.Log, opts...)
	if err != nil {
		return res, err
	}
	inst, err := sb.Up(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		// A fresh context: ctx may be what ended the run.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err = errors.Join(err, inst.Stop(sctx))
	}()
	port, err := sandbox.FreePort()
	if err != nil {
		return res, err
	}
	c := DefaultConfig()
	c.ListenAddr = "127.0.0.1:" + strconv.Itoa(port)
	r, err := remote.Dial(ctx, remote.Options{Alias: inst.Alias, ConfigPath: inst.ConfigPath, Log: o.Log})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if _, err := Provision(ctx, r, c, io.Discard); err != nil {
		return res, err
	}
	dbURL, err := inst.DatabaseURL()
	if err != nil {
		return res, err
	}
	if err := writeEnv(ctx, r, c, "DATABASE_URL="+dbURL+"\n"); err != nil {
		return res, err
	}
	o.Log.Info("sandbox provisioned", "listen", c.ListenAddr)
	res, err = Bench(ctx, BenchOptions{
		Runner: r, Config: c, Binary: bin, URL: "http://" + c.ListenAddr,
		Deploys: o.Deploys, Rate: o.Rate, Out: o.Out, Log: o.Log,
	})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	return res, nil
}
