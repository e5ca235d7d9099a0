package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/slipway-dev/slipway/internal/bench/load"
)

// DeployOptions configures Deploy.
type DeployOptions struct {
	RigOptions
	// Deploys under load per scenario (default 10); Rate the load in
	// requests per second on /readyz (default 100); Runs how many times each
	// quiet deploy of a timed scenario is timed, medians reported (default
	// 3); Gap the steady load before each deploy and after the last
	// (default 1s).
	Deploys, Rate, Runs int
	Gap                 time.Duration
	// Migration is how long the long-migration rows' migration sleeps
	// (default 20s); NeverReady is the ready timeout of the never-ready
	// rows, after which each flow gives up on the release (default 30s).
	Migration, NeverReady time.Duration
	// Scenarios run in this order; nil is DeployScenarios(), empty none.
	Scenarios []Scenario
	// Serving configures the command→serving rows, run after the
	// scenarios (serving.go).
	Serving ServingOptions
}

func (o DeployOptions) withDefaults() DeployOptions {
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
	if o.Migration <= 0 {
		o.Migration = 20 * time.Second
	}
	if o.NeverReady <= 0 {
		o.NeverReady = 30 * time.Second
	}
	if o.Scenarios == nil {
		o.Scenarios = DeployScenarios()
	}
	return o
}

// readyTimeout is how long every flow waits for a new release: NeverReady,
// and always longer than the long migration.
func (o DeployOptions) readyTimeout() time.Duration {
	return max(o.NeverReady, o.Migration+10*time.Second)
}

// Scenario is one way of deploying, run under the shared load: one row of
// bench:deploy's table.
type Scenario struct {
	// Name is the row's name.
	Name string
	// Timed scenarios are also timed deploying a binary the server has not
	// seen and the same binary again, with the bytes sent to sshd counted:
	// their deploys must go through Rig.MeteredConfig.
	Timed bool
	// Start sets the scenario up on the rig and says how it deploys.
	Start func(ctx context.Context, r *Rig, o DeployOptions) (Flow, error)
	// Once, when set, replaces the Deploys new binaries under load by one
	// deploy, under the same load, of the release it builds: a long
	// migration, or one that never becomes ready.
	Once func(ctx context.Context, r *Rig, o DeployOptions) (Release, error)
}

// Release is a Once row's release.
type Release struct {
	Binary string
	// Fails: the deploy must fail (the release never becomes ready).
	Fails bool
	// Mark is in every answer of a release that never becomes ready: the
	// row counts them ("" counts nothing).
	Mark string
}

// Flow is a started scenario.
type Flow struct {
	// URL is the app's base URL, for the load.
	URL string
	// Transport carries the load when set: HTTPS through the test's CA.
	Transport *http.Transport
	// Deploy deploys bin and returns once the new binary answers /readyz,
	// with the bytes of binary it sent.
	Deploy func(ctx context.Context, bin string) (int64, error)
	// Stop removes what Start installed (nil: nothing to remove). It runs
	// even when a deploy failed.
	Stop func(ctx context.Context) error
}

// load starts the load on the flow's /readyz.
func (f Flow) load(ctx context.Context, rate int) *load.Load {
	if f.Transport != nil {
		return load.StartWith(ctx, f.URL+"/readyz", rate, f.Transport)
	}
	return load.Start(ctx, f.URL+"/readyz", rate)
}

// DeployResult holds every scenario's figures, in the order they ran.
type DeployResult struct {
	Deploys, Rate, Runs int
	// Migration and ReadyTimeout as the long-migration and never-ready
	// rows ran them.
	Migration, ReadyTimeout time.Duration
	// BinarySize is the deployed binary's size.
	BinarySize int64
	Rows       []DeployRow
	// Serving holds the command→serving rows: today's flow, then the tree's.
	Serving []ServingRow
}

// DeployRow is one scenario, measured.
type DeployRow struct {
	Name  string
	Timed bool
	// Cold is the median wall time of deploying a binary the server has
	// never seen; Unchanged of deploying the same binary again. Both end
	// when the new binary answers /readyz. Timed scenarios only.
	Cold, Unchanged time.Duration
	// ColdBinary and UnchangedBinary are the bytes of binary sent.
	ColdBinary, UnchangedBinary int64
	// ColdSSH and UnchangedSSH are all bytes sent to the server's sshd
	// (handshakes, commands, the binary), counted on the TCP connections.
	ColdSSH, UnchangedSSH int64
	// Load is the load over Deploys deploys, each of a new binary, or over
	// the Once deploy.
	Load load.Result
	// Once rows: Mark is their release's mark, Answered how many requests
	// that release answered (any status).
	Mark     string
	Answered int
}

// Row returns the row named name.
func (r DeployResult) Row(name string) (DeployRow, bool) {
	i := slices.IndexFunc(r.Rows, func(row DeployRow) bool { return row.Name == name })
	if i < 0 {
		return DeployRow{}, false
	}
	return r.Rows[i], true
}

// Deploy runs every scenario on one rig, one after the other, under the
// same load, and returns their rows. With RigOptions.Sandbox set it leaves
// Slipway's service there, serving.
func Deploy(ctx context.Context, o DeployOptions) (res DeployResult, err error) {
	o = o.withDefaults()
	res = DeployResult{Deploys: o.Deploys, Rate: o.Rate, Runs: o.Runs, Migration: o.Migration, ReadyTimeout: o.readyTimeout()}
	r, err := NewRig(ctx, o.RigOptions)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	st, err := os.Stat(r.Binary)
	if err != nil {
		return res, err
	}
	res.BinarySize = st.Size()
	for _, s := range o.Scenarios {
		row, err := measure(ctx, o, r, s)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.Name, err)
		}
		res.Rows = append(res.Rows, row)
	}
	if !o.Serving.Off {
		if res.Serving, err = measureServing(ctx, o, r); err != nil {
			return res, err
		}
	}
	return res, nil
}

// measure starts s, times its quiet deploys when it is Timed, then deploys
// Deploys new binaries under load, and stops it.
func measure(ctx context.Context, o DeployOptions, r *Rig, s Scenario) (row DeployRow, err error) {
	row = DeployRow{Name: s.Name, Timed: s.Timed}
	f, err := s.Start(ctx, r, o)
	if err != nil {
		return row, err
	}
	if f.Stop != nil {
		defer func() { err = errors.Join(err, f.Stop(context.WithoutCancel(ctx))) }()
	}
	// The first deploy of a scenario (migrations, first release) is not
	// what a release costs: leave it out.
	bin, err := r.Variant()
	if err != nil {
		return row, err
	}
	if _, err := f.Deploy(ctx, bin); err != nil {
		return row, fmt.Errorf("first deploy: %w", err)
	}
	if s.Timed {
		if err := timeQuiet(ctx, o, r, s.Name, f, &row); err != nil {
			return row, err
		}
	}
	if s.Once != nil {
		return once(ctx, o, r, s, f, row)
	}
	l := f.load(ctx, o.Rate)
	for i := 1; i <= o.Deploys; i++ {
		bin, err := r.Variant()
		if err != nil {
			l.Stop()
			return row, err
		}
		time.Sleep(o.Gap)
		d, err := timed(func() error { _, err := f.Deploy(ctx, bin); return err })
		if err != nil {
			l.Stop()
			return row, fmt.Errorf("deploy %d under load: %w", i, err)
		}
		r.Printf("bench: %s: deploy %d of %d under load took %s", s.Name, i, o.Deploys, d.Round(time.Millisecond))
	}
	time.Sleep(o.Gap)
	row.Load = l.Stop()
	r.Printf("bench: %s: %s", s.Name, row.Load)
	return row, nil
}

// once deploys the row's own release under the load, between two gaps.
func once(ctx context.Context, o DeployOptions, r *Rig, s Scenario, f Flow, row DeployRow) (DeployRow, error) {
	rel, err := s.Once(ctx, r, o)
	if err != nil {
		return row, err
	}
	row.Mark = rel.Mark
	l := f.load(ctx, o.Rate)
	time.Sleep(o.Gap)
	d, err := timed(func() error { _, err := f.Deploy(ctx, rel.Binary); return err })
	time.Sleep(o.Gap)
	row.Load = l.Stop()
	row.Answered = row.Load.Answered(rel.Mark)
	r.Log.Info("bench: deployed", "scenario", s.Name, "kind", "once", "took", d.Round(time.Millisecond), "err", err, "result", row.Load.String())
	switch {
	case rel.Fails && err == nil:
		return row, errors.New("the never-ready release was deployed: it should have failed")
	case !rel.Fails && err != nil:
		return row, fmt.Errorf("deploy under load: %w", err)
	}
	return row, nil
}

// timeQuiet times Runs deploys of a new binary, each followed by the same
// binary again, with no load.
func timeQuiet(ctx context.Context, o DeployOptions, r *Rig, name string, f Flow, row *DeployRow) error {
	var cold, unchanged []time.Duration
	var coldBin, unchangedBin, coldSSH, unchangedSSH []int64
	for i := range o.Runs {
		bin, err := r.Variant()
		if err != nil {
			return err
		}
		for _, m := range []struct {
			kind     string
			d        *[]time.Duration
			bin, ssh *[]int64
		}{{"cold", &cold, &coldBin, &coldSSH}, {"unchanged", &unchanged, &unchangedBin, &unchangedSSH}} {
			before := r.Meter.BytesUp()
			var sent int64
			d, err := timed(func() (err error) { sent, err = f.Deploy(ctx, bin); return err })
			if err != nil {
				return fmt.Errorf("%s deploy %d: %w", m.kind, i+1, err)
			}
			r.Meter.WaitIdle()
			*m.d, *m.bin, *m.ssh = append(*m.d, d), append(*m.bin, sent), append(*m.ssh, r.Meter.BytesUp()-before)
			r.Printf("bench: %s: %s deploy %d of %d took %s", name, m.kind, i+1, o.Runs, d.Round(time.Millisecond))
		}
	}
	row.Cold, row.Unchanged = Median(cold), Median(unchanged)
	row.ColdBinary, row.UnchangedBinary = Median(coldBin), Median(unchangedBin)
	row.ColdSSH, row.UnchangedSSH = Median(coldSSH), Median(unchangedSSH)
	return nil
}

// Print writes one row per scenario, the ratios of Slipway's deploy to the
// seed's, then the most frequent reasons requests failed; then the
// command→serving rows and their phases.
func (r DeployResult) Print(w io.Writer) {
	if len(r.Rows) > 0 {
		r.printScenarios(w)
		fmt.Fprintln(w)
	}
	printServing(w, r.Serving, r.Rate)
}

func (r DeployResult) printScenarios(w io.Writer) {
	t := Table{
		Title: fmt.Sprintf("bench:deploy: a %s binary; every scenario on one sandbox, in this run", Size(r.BinarySize)),
		About: []string{
			fmt.Sprintf("cold: a binary the server has not seen; unchanged: the same binary again (medians of %d; wall time until it answers /readyz)", r.Runs),
			fmt.Sprintf("under load: %d deploys per scenario, a new binary each, with %d requests/s on GET /readyz (keep-alive)", r.Deploys, r.Rate),
			fmt.Sprintf("long migration / never-ready rows: one deploy under the same load of a release whose migration sleeps %s / that never becomes ready (every flow gives up after %s);",
				r.Migration, r.ReadyTimeout),
			"  answered: requests the never-ready release answered (any status); restart in place runs today's app, which answers before it is ready, Slipway the app that waits for its own readiness",
		},
		Header: []string{"scenario", "cold", "unchanged", "binary sent (cold / unchanged)", "sent to sshd (cold / unchanged)", "requests", "failed", "p50", "p99", "max", "answered by the never-ready release"},
	}
	for _, row := range r.Rows {
		cells := []string{row.Name, "", "", "", ""}
		if row.Timed {
			cells = []string{row.Name, Dur(row.Cold), Dur(row.Unchanged),
				Size(row.ColdBinary) + " / " + Size(row.UnchangedBinary), Size(row.ColdSSH) + " / " + Size(row.UnchangedSSH)}
		}
		l := row.Load
		answered := ""
		if row.Mark != "" {
			answered = fmt.Sprint(row.Answered)
		}
		t.Add(append(cells, fmt.Sprint(l.Sent), fmt.Sprint(l.Failed), Dur(l.P50), Dur(l.P99), Dur(l.Max), answered)...)
	}
	s, okS := r.Row(ScenarioSlipway)
	b, okB := r.Row(ScenarioSeed)
	if okS && okB {
		t.Add("ratio Slipway / seed", Ratio(s.Cold, b.Cold), Ratio(s.Unchanged, b.Unchanged),
			Ratio(s.ColdBinary, b.ColdBinary)+" / "+Ratio(s.UnchangedBinary, b.UnchangedBinary),
			Ratio(s.ColdSSH, b.ColdSSH)+" / "+Ratio(s.UnchangedSSH, b.UnchangedSSH),
			Ratio(s.Load.Sent, b.Load.Sent), Ratio(s.Load.Failed, b.Load.Failed),
			Ratio(s.Load.P50, b.Load.P50), Ratio(s.Load.P99, b.Load.P99), Ratio(s.Load.Max, b.Load.Max), "")
	}
	for _, row := range r.Rows {
		errs := row.Load.Errors
		msgs := slices.SortedFunc(maps.Keys(errs), func(a, b string) int { return cmp.Or(cmp.Compare(errs[b], errs[a]), cmp.Compare(a, b)) })
		for i, msg := range msgs {
			if i == 3 {
				t.Note("  %s: %d more kinds of failure", row.Name, len(msgs)-i)
				break
			}
			t.Note("  %s failed: %d× %s", row.Name, errs[msg], msg)
		}
	}
	t.Print(w)
}
