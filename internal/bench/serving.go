package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/migfiles"
)

// DefaultBaseline is "today's flow" of issue 27: Slipway before the server
// half moved to Go, the commit its command→serving rows compare against.
const DefaultBaseline = "207fac8"

// ServingOptions configures bench:deploy's command→serving rows: the
// deploy a user runs, timed from outside.
type ServingOptions struct {
	// Runs is how many deploys each flow times, medians reported (default 5).
	Runs int
	// Baseline is a commit of the rig's Root whose flow is measured in the
	// same run, before the working tree's ("" is DefaultBaseline).
	Baseline string
	// Probe is how often /version is asked (default 20ms).
	Probe time.Duration
	// Off leaves the rows out.
	Off bool
}

func (o ServingOptions) withDefaults() ServingOptions {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Baseline == "" {
		o.Baseline = DefaultBaseline
	}
	if o.Probe <= 0 {
		o.Probe = 20 * time.Millisecond
	}
	return o
}

// ServingRow is one flow's command→serving runs.
type ServingRow struct {
	// Name says which Slipway deployed: the baseline commit or the tree.
	Name string
	Runs []ServingRun
}

// ServingRun is one deploy, timed from the command's start.
type ServingRun struct {
	// Serving: the first response carrying the new /version; Exit: the
	// command's end. Printed is what deploy printed as "deployed in" (-1:
	// no such line).
	Serving, Exit, Printed time.Duration
	// Marks are when deploy's progress lines came (markNames), absent
	// when a line never did.
	Marks map[string]time.Duration
	// Ready is when the handover's "is ready" step says the instance got
	// ready, counted from the handover's start on the server (-1: none).
	Ready time.Duration
	// Load is the steady load on /readyz from before the command to after
	// its exit.
	Load load.Result
}

// The progress lines deploy prints, in order, and the mark each sets: the
// phases are the gaps between them.
var markLines = []struct{ name, contains string }{
	{"checked", "checkMigrations: "},
	{"connected", "connected to "},
	{"uploading", "uploading "},
	{"verified", "verified sha256 on "},
	{"asked", " pending (database at version "},
	{"backed up", ", schema version "},
	{"handover", " beside the live release, waiting up to "},
	{"switched", " serves "},
	{"printed", "deployed in "},
}

// servingPhases are the phase table's columns: from one mark to the next.
// "start", "serving" and "exit" are the bench's own marks.
var servingPhases = []struct{ from, to, name string }{
	{"start", "checked", "start-up, checkMigrations"},
	{"checked", "connected", "connect"},
	{"connected", "uploading", "lock, inspect"},
	{"uploading", "verified", "upload, verify"},
	{"verified", "asked", "pending migrations?"},
	{"asked", "backed up", "backup"},
	{"backed up", "handover", "units"},
	{"handover", "serving", "handover → serving"},
	{"serving", "switched", "serving → handover end"},
	{"switched", "exit", "prune, unlock, exit"},
}

// measureServing prepares the baseline's flow and the tree's, each a
// project folder and a fresh database of its own, then times them in
// turns, one run of each after the other: on a shared machine, a load
// that comes and goes weighs on both alike.
func measureServing(ctx context.Context, o DeployOptions, r *Rig) ([]ServingRow, error) {
	so := o.Serving.withDefaults()
	flows := []*servingFlow{
		{row: ServingRow{Name: "today's flow (" + so.Baseline + ")"}, commit: so.Baseline, tag: "base"},
		{row: ServingRow{Name: "this tree"}, tag: "tree"},
	}
	for _, f := range flows {
		if err := f.prepare(ctx, r); err != nil {
			return nil, fmt.Errorf("command→serving, %s: %w", f.row.Name, err)
		}
	}
	var rows []ServingRow
	for i := 0; i <= so.Runs; i++ {
		for _, f := range flows {
			// The instance this run starts reads the env file: this flow's database.
			if err := r.WriteRoot(ctx, r.Service.EnvFile(), "DATABASE_URL="+f.dbURL+"\n", 0o600); err != nil {
				return nil, err
			}
			run, err := servingRun(ctx, o, so, r, f.dir, f.mage, fmt.Sprintf("bench%s%d", f.tag, i))
			if err != nil {
				return nil, fmt.Errorf("command→serving, %s, run %d: %w", f.row.Name, i, err)
			}
			if i == 0 {
				// The first deploy migrates a fresh database: not what a
				// release costs.
				continue
			}
			f.row.Runs = append(f.row.Runs, run)
			r.Printf("bench: command→serving, %s: run %d of %d: serving after %s, exit after %s, printed %s, %d/%d requests failed",
				f.row.Name, i, so.Runs, Dur(run.Serving), Dur(run.Exit), Dur(run.Printed), run.Load.Failed, run.Load.Sent)
		}
	}
	for _, f := range flows {
		rows = append(rows, f.row)
	}
	return rows, nil
}

// servingFlow is one Slipway's project folder, compiled magefile and
// database.
type servingFlow struct {
	row ServingRow
	// commit is the baseline's ("" is the working tree of the rig's Root);
	// tag names its folder, database and releases.
	commit, tag      string
	dir, mage, dbURL string
}

// prepare copies Slipway at the flow's commit into a project folder,
// compiles its magefile once (the runs time the deploy, not the
// magefile's build) and creates its database.
func (f *servingFlow) prepare(ctx context.Context, r *Rig) error {
	f.dir = filepath.Join(r.Dir, "serving-"+f.tag)
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	src := exec.CommandContext(ctx, "git", "-C", r.Root, "archive", "--format=tar", f.commit)
	if f.commit == "" {
		src = exec.CommandContext(ctx, "tar", "-C", r.Root, "--exclude=./.git", "--exclude=./bin", "-cf", "-", ".")
	}
	if err := pipe(src, exec.CommandContext(ctx, "tar", "-C", f.dir, "-xf", "-")); err != nil {
		if f.commit != "" {
			return fmt.Errorf("project folder of commit %s (it must be in %s's history: git fetch --unshallow): %w", f.commit, r.Root, err)
		}
		return fmt.Errorf("project folder: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(f.dir, "bin"), 0o755); err != nil {
		return err
	}
	f.mage = filepath.Join(r.Dir, "mage-"+f.tag)
	cmd := exec.CommandContext(ctx, "go", "run", "mage.go", "-compile", f.mage)
	cmd.Dir, cmd.Env = f.dir, servingEnv(r)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run mage.go -compile: %w: %s", err, out)
	}
	var err error
	f.dbURL, err = r.Inst.FreshDatabase(ctx, "bench_serving_"+f.tag)
	return err
}

// servingRun adds a migration, builds the app stamped with a commit of
// its own (outside the clock), then runs `<mage> deploy` under the load
// with /version probed, and reads its progress lines.
func servingRun(ctx context.Context, o DeployOptions, so ServingOptions, r *Rig, dir, mage, id string) (ServingRun, error) {
	run := ServingRun{Printed: -1, Ready: -1, Marks: map[string]time.Duration{}}
	if err := addMigration(dir, id); err != nil {
		return run, err
	}
	if _, err := build.Run(ctx, build.Options{Dir: dir, Package: "./cmd/app", GOARCH: runtime.GOARCH, Output: "bin/app",
		Version: id, Commit: id, Log: r.Log}); err != nil {
		return run, err
	}
	base := "http://" + r.Service.ListenAddr
	time.Sleep(o.Gap)
	l := load.Start(ctx, base+"/readyz", o.Rate)
	pr, pw, err := os.Pipe()
	if err != nil {
		l.Stop()
		return run, err
	}
	cmd := exec.CommandContext(ctx, mage, "deploy")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, servingEnv(r), pw, pw
	pctx, stopProbe := context.WithCancel(ctx)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		stopProbe()
		l.Stop()
		return run, err
	}
	pw.Close()
	served := probe(pctx, base+"/version", id, start, so.Probe)
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		at, line := time.Since(start), sc.Text()
		out.WriteString(line + "\n")
		r.Log.Debug("bench: deploy", "at", at, "line", line)
		readLine(&run, at, line)
	}
	pr.Close()
	err = cmd.Wait()
	run.Exit = time.Since(start)
	if err != nil {
		stopProbe()
		l.Stop()
		return run, fmt.Errorf("%s deploy: %w\n%s", mage, err, out.String())
	}
	// A deploy that exited serving has answered by now, or never will.
	select {
	case run.Serving = <-served:
	case <-time.After(5 * time.Second):
	}
	stopProbe()
	time.Sleep(o.Gap)
	run.Load = l.Stop()
	if run.Serving == 0 {
		return run, fmt.Errorf("%s/version never answered with %s within 5 s of the deploy's exit:\n%s", base, id, out.String())
	}
	run.Marks["serving"], run.Marks["exit"] = run.Serving, run.Exit
	return run, nil
}

// readLine records the mark a progress line sets, deploy's printed time,
// and the handover's ready step.
func readLine(run *ServingRun, at time.Duration, line string) {
	for _, m := range markLines {
		if _, seen := run.Marks[m.name]; !seen && strings.Contains(line, m.contains) {
			run.Marks[m.name] = at
			break
		}
	}
	if _, rest, ok := strings.Cut(line, "deployed in "); ok {
		v, _, _ := strings.Cut(rest, " ")
		if d, err := time.ParseDuration(v); err == nil {
			run.Printed = d
		}
	}
	if s, ok := strings.CutPrefix(strings.TrimSpace(line), "["); ok && strings.Contains(s, " is ready") {
		v, _, _ := strings.Cut(s, "]")
		if d, err := time.ParseDuration(v); err == nil {
			run.Ready = d
		}
	}
}

// probe asks url every interval, each on a new connection (a kept-alive
// one would stay with the old instance), and sends how long after start
// the first answer holding want came.
func probe(ctx context.Context, url, want string, start time.Time, interval time.Duration) <-chan time.Duration {
	found := make(chan time.Duration, 1)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var once sync.Once
	ask := func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && strings.Contains(string(b), want) {
			at := time.Since(start)
			once.Do(func() { found <- at })
		}
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			// Each on its own: a slow answer must not delay the next ask.
			go ask()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return found
}

// addMigration adds one small migration to dir's migrations, numbered
// and summed as newMigration then fixMigrations would.
func addMigration(dir, id string) error {
	mdir := filepath.Join(dir, "migrations")
	f, err := migfiles.Create(mdir, id, time.Now())
	if err != nil {
		return err
	}
	body := fmt.Sprintf("-- +goose Up\nCREATE TABLE %[1]s (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY\n);\n\n-- +goose Down\nDROP TABLE %[1]s;\n", id)
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		return err
	}
	p, err := migfiles.PlanFix(mdir, false)
	if err != nil {
		return err
	}
	return p.Apply(func() error { return nil })
}

// servingEnv is the command's environment: the rig's sandbox and service,
// and no start time handed down (deploy must find its own).
func servingEnv(r *Rig) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "SLIPWAY_COMMAND_START" || k == "DATABASE_URL" || k == "MIGRATIONS_DIR" || strings.HasPrefix(k, "DEPLOY_") ||
			strings.HasPrefix(k, "APP_") || strings.HasPrefix(k, "MAGEFILE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DEPLOY_HOST="+r.Inst.Alias, "DEPLOY_SSH_CONFIG="+r.Inst.ConfigPath, "APP_LISTEN="+r.Service.ListenAddr,
		"DEPLOY_READY_TIMEOUT=30s")
}

// pipe runs a | b.
func pipe(a, b *exec.Cmd) error {
	rd, err := a.StdoutPipe()
	if err != nil {
		return err
	}
	var aErr, bErr strings.Builder
	a.Stderr, b.Stderr, b.Stdin = &aErr, &bErr, rd
	if err := a.Start(); err != nil {
		return err
	}
	if err := b.Run(); err != nil {
		_ = a.Wait()
		return fmt.Errorf("%s: %w: %s", strings.Join(b.Args, " "), err, bErr.String())
	}
	if err := a.Wait(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(a.Args, " "), err, aErr.String())
	}
	return nil
}

// servingMedian is the median of what f reads from each run that has it.
func servingMedian(runs []ServingRun, f func(ServingRun) (time.Duration, bool)) (time.Duration, bool) {
	var ds []time.Duration
	for _, run := range runs {
		if d, ok := f(run); ok {
			ds = append(ds, d)
		}
	}
	return Median(ds), len(ds) > 0
}

// printServing writes the command→serving table and its phases.
func printServing(w io.Writer, rows []ServingRow, rate int) {
	if len(rows) == 0 {
		return
	}
	runs := len(rows[0].Runs)
	t := Table{
		Title: "bench:deploy: command → serving, as a user deploys (`mage deploy`), in this run",
		About: []string{
			fmt.Sprintf("each flow from a project folder and a fresh database of its own, in turns (a run of one, then of the other); %d deploys each timed (medians), each of a new binary with one more small migration, backups on", runs),
			"the magefile compiled once per flow before timing (`go run mage.go -compile`): not counted; the app built before each run: not counted",
			fmt.Sprintf("serving: the first answer carrying the new /version (asked every 20 ms, a new connection each); %d requests/s on GET /readyz meanwhile", rate),
			"printed: what deploy printed as \"deployed in\"; printed − serving should be about 0 (issue 27)",
		},
		Header: []string{"flow", "command→serving", "min", "max", "command→exit", "printed", "printed − serving", "requests", "failed"},
	}
	med := func(row ServingRow, f func(ServingRun) (time.Duration, bool)) string {
		d, ok := servingMedian(row.Runs, f)
		if !ok {
			return ""
		}
		return Dur(d)
	}
	for _, row := range rows {
		var sent, failed int
		var servings []time.Duration
		for _, run := range row.Runs {
			sent, failed = sent+run.Load.Sent, failed+run.Load.Failed
			servings = append(servings, run.Serving)
		}
		t.Add(row.Name,
			med(row, func(r ServingRun) (time.Duration, bool) { return r.Serving, true }),
			Dur(slices.Min(servings)), Dur(slices.Max(servings)),
			med(row, func(r ServingRun) (time.Duration, bool) { return r.Exit, true }),
			med(row, func(r ServingRun) (time.Duration, bool) { return r.Printed, r.Printed >= 0 }),
			med(row, func(r ServingRun) (time.Duration, bool) { return r.Printed - r.Serving, r.Printed >= 0 }),
			fmt.Sprint(sent), fmt.Sprint(failed))
	}
	if len(rows) == 2 {
		b, _ := servingMedian(rows[0].Runs, func(r ServingRun) (time.Duration, bool) { return r.Serving, true })
		s, _ := servingMedian(rows[1].Runs, func(r ServingRun) (time.Duration, bool) { return r.Serving, true })
		be, _ := servingMedian(rows[0].Runs, func(r ServingRun) (time.Duration, bool) { return r.Exit, true })
		se, _ := servingMedian(rows[1].Runs, func(r ServingRun) (time.Duration, bool) { return r.Exit, true })
		t.Add("ratio tree / today", Ratio(s, b), "", "", Ratio(se, be), "", "", "", "")
		verdict := "met"
		failed := 0
		for _, run := range rows[1].Runs {
			failed += run.Load.Failed
		}
		if s > 1500*time.Millisecond || failed > 0 {
			verdict = "not met"
		}
		t.Note("goal (issue 27): command→serving median ≤ 1.5s with 0 failed requests: %s (%s, %d failed)", verdict, Dur(s), failed)
	}
	for _, row := range rows {
		errs := map[string]int{}
		for _, run := range row.Runs {
			for k, v := range run.Load.Errors {
				errs[k] += v
			}
		}
		for _, msg := range slices.Sorted(maps.Keys(errs)) {
			t.Note("  %s failed: %d× %s", row.Name, errs[msg], msg)
		}
	}
	t.Print(w)
	fmt.Fprintln(w)

	p := Table{
		Title: "bench:deploy: where command → serving goes (medians, from deploy's progress lines as they came)",
		About: []string{"each phase ends at the next progress line; ready: the handover's own \"is ready\" step, counted from its start on the server"},
	}
	p.Header = []string{"flow"}
	for _, ph := range servingPhases {
		p.Header = append(p.Header, ph.name)
	}
	p.Header = append(p.Header, "ready (server)")
	for _, row := range rows {
		cells := []string{row.Name}
		for _, ph := range servingPhases {
			cells = append(cells, med(row, func(r ServingRun) (time.Duration, bool) {
				from, ok1 := r.Marks[ph.from]
				if ph.from == "start" {
					ok1 = true
				}
				to, ok2 := r.Marks[ph.to]
				return to - from, ok1 && ok2
			}))
		}
		cells = append(cells, med(row, func(r ServingRun) (time.Duration, bool) { return r.Ready, r.Ready >= 0 }))
		p.Add(cells...)
	}
	p.Print(w)
}
