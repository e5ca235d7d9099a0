package build

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"
)

// Goals from the buildApp issue: the checks buildApp adds may cost at most
// 15% of the build's wall time, and stripping must save at least 30%.
const (
	GoalTimeRatio = 1.15
	GoalSizeRatio = 0.70
)

// BenchOptions configures Bench.
type BenchOptions struct {
	// Dir is the repository root; "" is ".".
	Dir string
	// GOARCH is the target architecture; "" is amd64.
	GOARCH string
	// Runs is the number of timed runs per command and mode; 0 is 5.
	Runs int
	// Stdout receives the table; nil discards it.
	Stdout io.Writer
	// Log receives progress at debug level; nil discards it.
	Log *slog.Logger
}

// Timing holds the median wall times of buildApp and of the plain go build
// with the same flags.
type Timing struct {
	BuildApp, GoBuild time.Duration
}

// Ratio is buildApp's time over the plain go build's.
func (t Timing) Ratio() float64 { return t.BuildApp.Seconds() / t.GoBuild.Seconds() }

// BenchResult is what Bench measured, on a warm build cache.
type BenchResult struct {
	GOARCH string
	Runs   int
	// Relink removes both outputs before each run, so every run links a new
	// binary: the cost of a release build after a change.
	Relink Timing
	// UpToDate keeps the outputs, so the go command finds them current and
	// skips the link: the run where buildApp's fixed costs (git, verify,
	// hash) weigh the most.
	UpToDate Timing
	// Size is buildApp's binary; DefaultSize is a default `go build` of the
	// same package for the same GOOS/GOARCH.
	Size, DefaultSize int64
}

// SizeRatio is buildApp's binary size over the default build's.
func (r BenchResult) SizeRatio() float64 { return float64(r.Size) / float64(r.DefaultSize) }

// Bench measures buildApp against the plain go build it wraps, each into a
// temporary directory (bin/ is left alone), and prints a table. It reports
// the goals but doesn't fail on them: timings on a shared machine are noisy.
func Bench(ctx context.Context, opts BenchOptions) (BenchResult, error) {
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	bopts := Options{Dir: opts.Dir, GOARCH: opts.GOARCH, Log: opts.Log}.withDefaults()
	if err := checkArch(bopts.GOARCH); err != nil {
		return BenchResult{}, err
	}
	opts.Log = bopts.Log
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	tmp, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	appOut := filepath.Join(tmp, "buildapp", "app")
	plainOut := filepath.Join(tmp, "gobuild", "app")
	defaultOut := filepath.Join(tmp, "default", "app")
	bopts.Output = appOut
	if err := os.MkdirAll(filepath.Dir(plainOut), 0o755); err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	// The plain build gets buildApp's exact arguments, stamp included, so
	// both link the same binary and only buildApp's own work differs.
	version, commit, err := Stamp(ctx, bopts.Dir)
	if err != nil {
		return BenchResult{}, err
	}
	buildApp := func() error { _, err := Run(ctx, bopts); return err }
	plain := func() error { return goBuild(ctx, bopts, Args(version, commit, plainOut)) }

	// Warm-up: fills the build cache for this GOARCH and these flags.
	opts.Log.Debug("bench: warm-up")
	if err := buildApp(); err != nil {
		return BenchResult{}, err
	}
	if err := plain(); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{GOARCH: bopts.GOARCH, Runs: opts.Runs}
	if res.DefaultSize, err = defaultBuild(ctx, bopts, defaultOut); err != nil {
		return BenchResult{}, err
	}
	if _, res.Size, err = hashFile(appOut); err != nil {
		return BenchResult{}, err
	}

	if res.Relink, err = timeBoth(opts, buildApp, plain, func() { os.Remove(appOut); os.Remove(plainOut) }); err != nil {
		return BenchResult{}, err
	}
	if res.UpToDate, err = timeBoth(opts, buildApp, plain, func() {}); err != nil {
		return BenchResult{}, err
	}
	res.print(opts.Stdout)
	return res, nil
}

// timeBoth returns the median wall times of a and b over opts.Runs runs each,
// calling reset before every run. The order alternates so that neither one
// always runs right after the other's cache writes.
func timeBoth(opts BenchOptions, a, b func() error, reset func()) (Timing, error) {
	var ta, tb []time.Duration
	for i := range opts.Runs {
		first, second, tFirst, tSecond := a, b, &ta, &tb
		if i%2 == 1 {
			first, second, tFirst, tSecond = b, a, &tb, &ta
		}
		for _, step := range []struct {
			f func() error
			t *[]time.Duration
		}{{first, tFirst}, {second, tSecond}} {
			reset()
			start := time.Now()
			if err := step.f(); err != nil {
				return Timing{}, err
			}
			*step.t = append(*step.t, time.Since(start))
		}
		opts.Log.Debug("bench: run", "n", i+1, "buildApp", ta[len(ta)-1], "gobuild", tb[len(tb)-1])
	}
	return Timing{BuildApp: median(ta), GoBuild: median(tb)}, nil
}

// defaultBuild runs `go build` with nothing but GOOS and GOARCH set, as
// someone would without buildApp, and returns the binary's size.
func defaultBuild(ctx context.Context, opts Options, out string) (int64, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, Package)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+opts.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("default go build: %w\n%s", err, output)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, fmt.Errorf("default go build: %w", err)
	}
	return fi.Size(), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func (r BenchResult) print(w io.Writer) {
	verdict := func(ratio, goal float64) string {
		if ratio <= goal {
			return "ok"
		}
		return "over goal"
	}
	fmt.Fprintf(w, "benchBuild linux/%s %s, warm cache, median of %d runs\n", r.GOARCH, Package, r.Runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbuildApp\tgo build, same flags\tratio\tgoal\t")
	for _, row := range []struct {
		name string
		t    Timing
	}{{"wall time, relink", r.Relink}, {"wall time, up to date", r.UpToDate}} {
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2fs\t%.2fx\t≤ %.2fx %s\t\n", row.name, row.t.BuildApp.Seconds(), row.t.GoBuild.Seconds(), row.t.Ratio(), GoalTimeRatio, verdict(row.t.Ratio(), GoalTimeRatio))
	}
	fmt.Fprintln(tw, "\tbuildApp\tdefault go build\t\t\t")
	fmt.Fprintf(tw, "binary size\t%.1f MiB\t%.1f MiB\t%.2fx\t≤ %.2fx %s\t\n", float64(r.Size)/(1<<20), float64(r.DefaultSize)/(1<<20), r.SizeRatio(), GoalSizeRatio, verdict(r.SizeRatio(), GoalSizeRatio))
	tw.Flush()
}
