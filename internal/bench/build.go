package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
)

// Goals from the buildApp issue: the checks buildApp adds may cost at most
// 15% of the build's wall time, and stripping must save at least 30%.
const (
	GoalBuildTimeRatio = 1.15
	GoalBuildSizeRatio = 0.70
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Dir is the repository root; "" is ".".
	Dir string
	// GOARCH is the target architecture; "" is amd64.
	GOARCH string
	// Runs is the number of timed runs per command and mode; 0 is 5.
	Runs int
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

// BuildResult is what Build measured, on a warm build cache.
type BuildResult struct {
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
func (r BuildResult) SizeRatio() float64 { return float64(r.Size) / float64(r.DefaultSize) }

// Build measures buildApp against the plain go build it wraps, each into a
// temporary directory (bin/ is left alone). It reports the goals but doesn't
// fail on them: timings on a shared machine are noisy.
func Build(ctx context.Context, o BuildOptions) (BuildResult, error) {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.GOARCH == "" {
		o.GOARCH = "amd64"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	tmp, err := os.MkdirTemp("", "slipway-benchbuild-")
	if err != nil {
		return BuildResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	appOut := filepath.Join(tmp, "buildapp", "app")
	plainOut := filepath.Join(tmp, "gobuild", "app")
	bopts := build.Options{Dir: o.Dir, GOARCH: o.GOARCH, Output: appOut, Log: o.Log}
	buildApp := func() error { _, err := build.Run(ctx, bopts); return err }
	// Warm-up: fills the build cache for this GOARCH and these flags, and
	// rejects an unsupported GOARCH before anything is timed.
	o.Log.Debug("bench: warm-up")
	if err := buildApp(); err != nil {
		return BuildResult{}, err
	}
	// The plain build gets buildApp's exact arguments, stamp included, so
	// both link the same binary and only buildApp's own work differs.
	cmd, err := build.Command(ctx, build.Options{Dir: o.Dir, GOARCH: o.GOARCH, Output: plainOut})
	if err != nil {
		return BuildResult{}, err
	}
	plain := func() error { return goCmd(ctx, cmd.Dir, cmd.Env, cmd.Args[1:]) }
	if err := os.MkdirAll(filepath.Dir(plainOut), 0o755); err != nil {
		return BuildResult{}, fmt.Errorf("bench: %w", err)
	}
	if err := plain(); err != nil {
		return BuildResult{}, err
	}
	res := BuildResult{GOARCH: o.GOARCH, Runs: o.Runs}
	// A default build: nothing but GOOS and GOARCH set, as someone would
	// without buildApp.
	defaultOut := filepath.Join(tmp, "default", "app")
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+o.GOARCH)
	if err := goCmd(ctx, o.Dir, env, []string{"build", "-o", defaultOut, build.Package}); err != nil {
		return BuildResult{}, err
	}
	for path, into := range map[string]*int64{appOut: &res.Size, defaultOut: &res.DefaultSize} {
		st, err := os.Stat(path)
		if err != nil {
			return BuildResult{}, err
		}
		*into = st.Size()
	}
	if res.Relink, err = timeBoth(o, buildApp, plain, func() { os.Remove(appOut); os.Remove(plainOut) }); err != nil {
		return BuildResult{}, err
	}
	if res.UpToDate, err = timeBoth(o, buildApp, plain, func() {}); err != nil {
		return BuildResult{}, err
	}
	return res, nil
}

// goCmd runs the go command in dir and passes its message through on failure.
func goCmd(ctx context.Context, dir string, env, args []string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// timeBoth returns the median wall times of a and b over o.Runs runs each,
// calling reset before every run. The order alternates so that neither one
// always runs right after the other's cache writes.
func timeBoth(o BuildOptions, a, b func() error, reset func()) (Timing, error) {
	var ta, tb []time.Duration
	for i := range o.Runs {
		first, second, tFirst, tSecond := a, b, &ta, &tb
		if i%2 == 1 {
			first, second, tFirst, tSecond = b, a, &tb, &ta
		}
		for _, step := range []struct {
			f func() error
			t *[]time.Duration
		}{{first, tFirst}, {second, tSecond}} {
			reset()
			d, err := timed(step.f)
			if err != nil {
				return Timing{}, err
			}
			*step.t = append(*step.t, d)
		}
		o.Log.Debug("bench: run", "n", i+1, "buildApp", ta[len(ta)-1], "gobuild", tb[len(tb)-1])
	}
	return Timing{BuildApp: Median(ta), GoBuild: Median(tb)}, nil
}

// Print writes the table.
func (r BuildResult) Print(w io.Writer) {
	verdict := func(ratio, goal float64) string {
		if ratio <= goal {
			return fmt.Sprintf("≤ %.2fx ok", goal)
		}
		return fmt.Sprintf("≤ %.2fx over goal", goal)
	}
	t := Table{
		Title:  fmt.Sprintf("bench:build linux/%s %s, warm cache, median of %d runs", r.GOARCH, build.Package, r.Runs),
		Header: []string{"", "buildApp", "go build, same flags", "ratio", "goal"},
	}
	for _, row := range []struct {
		name string
		t    Timing
	}{{"wall time, relink", r.Relink}, {"wall time, up to date", r.UpToDate}} {
		t.Add(row.name, Dur(row.t.BuildApp), Dur(row.t.GoBuild), fmt.Sprintf("%.2fx", row.t.Ratio()), verdict(row.t.Ratio(), GoalBuildTimeRatio))
	}
	t.Add("", "buildApp", "default go build", "", "")
	t.Add("binary size", Size(r.Size), Size(r.DefaultSize), fmt.Sprintf("%.2fx", r.SizeRatio()), verdict(r.SizeRatio(), GoalBuildSizeRatio))
	t.Print(w)
}
