package service

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"text/tabwriter"
	"time"
)

// BenchOptions configures Bench.
type BenchOptions struct {
	// Runner reaches a provisioned server whose env file is filled in.
	Runner Runner
	Config Config
	// Binary is the app binary deployed over and over (a local path).
	Binary string
	// URL is the app's base URL as the load generator reaches it.
	URL string
	// Deploys per scenario (default 10); Rate the load in requests per
	// second (default 200); Gap the steady load between deploys (default 1s).
	Deploys, Rate int
	Gap           time.Duration
	Out           io.Writer
	Log           *slog.Logger
}

// BenchResult holds the load measured in each scenario.
type BenchResult struct {
	Deploys int
	// Slipway: new release dir, its instance started beside the live one
	// on the socket, the old one stopped once it is ready (Handover). Baseline: the same app without
	// socket activation, deployed by stop, copy over the binary, start.
	Slipway, Baseline LoadResult
}

func (o BenchOptions) withDefaults() BenchOptions {
	if o.Deploys <= 0 {
		o.Deploys = 10
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Gap <= 0 {
		o.Gap = time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Bench deploys the app Deploys times under a constant load in each
// scenario, baseline first, and prints the table. It leaves the server with
// Slipway's units, the socket enabled and the last release serving.
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	o = o.withDefaults()
	res := BenchResult{Deploys: o.Deploys}
	var err error
	if res.Baseline, err = benchBaseline(ctx, o); err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	if res.Slipway, err = benchSlipway(ctx, o); err != nil {
		return res, fmt.Errorf("handover: %w", err)
	}
	res.Print(o.Out, o.Rate)
	return res, nil
}

func benchSlipway(ctx context.Context, o BenchOptions) (LoadResult, error) {
	r, c := o.Runner, o.Config
	if _, err := Ensure(ctx, r, c); err != nil {
		return LoadResult{}, err
	}
	if _, err := runRootf(ctx, r, "systemctl enable --quiet --now %s && systemctl enable --quiet --now %s", quote(c.SocketUnit()), quote(c.CurrentUnit())); err != nil {
		return LoadResult{}, err
	}
	deploy := func(i int) error {
		id := fmt.Sprintf("bench-%d", i)
		if err := installRelease(ctx, r, c, id, o.Binary); err != nil {
			return err
		}
		if _, err := Ensure(ctx, r, c); err != nil {
			return err
		}
		return handoverTo(ctx, r, c, id)
	}
	if err := deploy(0); err != nil {
		return LoadResult{}, err
	}
	res, err := underLoad(ctx, o, "socket activation", deploy)
	// Keep the serving release only.
	_, _ = r.Run(ctx, fmt.Sprintf("cd %s && for d in bench-*; do [ \"$d\" = bench-%d ] || rm -rf \"$d\"; done", quote(c.ReleasesDir()), o.Deploys), nil)
	return res, err
}

func benchBaseline(ctx context.Context, o BenchOptions) (LoadResult, error) {
	r, c := o.Runner, o.Config
	unit, err := baselineUnit(c)
	if err != nil {
		return LoadResult{}, err
	}
	// The plain set-up: no socket unit, the app binds ADDR itself.
	if _, err := runRootf(ctx, r, "systemctl disable --now %s %s 2>&1; systemctl stop %s", quote(c.SocketUnit()), quote(c.CurrentUnit()), quote(c.InstancePattern())); err != nil {
		return LoadResult{}, err
	}
	dst := path.Join(UnitDir, c.ServiceUnit())
	if out, err := r.RunRoot(ctx, fmt.Sprintf("cat > %s && systemctl daemon-reload", quote(dst)), bytes.NewReader(unit)); err != nil {
		return LoadResult{}, fmt.Errorf("install baseline unit: %w: %s", err, out)
	}
	if err := installRelease(ctx, r, c, "bench-baseline", o.Binary); err != nil {
		return LoadResult{}, err
	}
	if err := switchCurrent(ctx, r, c, "bench-baseline"); err != nil {
		return LoadResult{}, err
	}
	if _, err := runRootf(ctx, r, "systemctl start %s", quote(c.ServiceUnit())); err != nil {
		return LoadResult{}, err
	}
	deploy := func(int) error {
		if _, err := runRootf(ctx, r, "systemctl stop %s", quote(c.ServiceUnit())); err != nil {
			return err
		}
		// Copy over the stopped binary, as a plain scp-and-restart does.
		f, err := os.Open(o.Binary)
		if err != nil {
			return err
		}
		defer f.Close()
		if out, err := r.Run(ctx, "cat > "+quote(c.Binary()), f); err != nil {
			return fmt.Errorf("copy binary: %w: %s", err, out)
		}
		// Deploys must not trip the start rate limit (see Restart).
		_, err = runRootf(ctx, r, "systemctl reset-failed %[1]s; systemctl start %[1]s", quote(c.ServiceUnit()))
		return err
	}
	res, err := underLoad(ctx, o, "stop-copy-start", deploy)
	if _, serr := runRootf(ctx, r, "systemctl stop %[1]s; rm -f %[2]s; systemctl daemon-reload", quote(c.ServiceUnit()), quote(dst)); serr != nil && err == nil {
		err = serr
	}
	return res, err
}

// underLoad runs deploy 1..Deploys with Gap of steady load around each.
func underLoad(ctx context.Context, o BenchOptions, name string, deploy func(int) error) (LoadResult, error) {
	load := StartLoad(ctx, o.URL+"/healthz", o.Rate)
	for i := 1; i <= o.Deploys; i++ {
		time.Sleep(o.Gap)
		start := time.Now()
		if err := deploy(i); err != nil {
			load.Stop()
			return LoadResult{}, fmt.Errorf("deploy %d: %w", i, err)
		}
		o.Log.Info("deployed", "scenario", name, "deploy", i, "took", time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(o.Gap)
	return load.Stop(), nil
}

// Print writes the comparison table.
func (b BenchResult) Print(w io.Writer, rate int) {
	fmt.Fprintf(w, "benchRestart: %d deploys per scenario under %d requests/s (GET /healthz, keep-alive)\n", b.Deploys, rate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tsent\tfailed\tp50\tp99\tmax")
	for _, row := range []struct {
		name string
		r    LoadResult
	}{
		{"handover on one socket (Slipway)", b.Slipway},
		{"stop-copy-start, no socket (baseline)", b.Baseline},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", row.name, row.r.Sent, row.r.Failed, ms(row.r.P50), ms(row.r.P99), ms(row.r.Max))
	}
	tw.Flush()
	for _, row := range []struct {
		name string
		r    LoadResult
	}{{"Slipway", b.Slipway}, {"baseline", b.Baseline}} {
		for msg, n := range row.r.Errors {
			fmt.Fprintf(w, "  %s: %d× %s\n", row.name, n, msg)
		}
	}
}

func runRootf(ctx context.Context, r Runner, format string, args ...any) ([]byte, error) {
	cmd := fmt.Sprintf(format, args...)
	out, err := r.RunRoot(ctx, cmd, nil)
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", cmd, err, out)
	}
	return out, nil
}
