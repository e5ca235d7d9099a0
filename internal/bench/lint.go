package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/lint"
	"github.com/slipway-dev/slipway/internal/migfiles"
)

// LintOptions configures Lint.
type LintOptions struct {
	// Files is the number of generated migrations; 0 is 500.
	Files int
	// Runs is the number of timed runs per row; 0 is 5.
	Runs int
	// Squawk is the squawk executable to compare with; "" looks up "squawk"
	// on PATH, and the comparison is skipped when there is none. npm's
	// squawk-cli installs a node wrapper: point this at the native binary
	// under node_modules/@squawk-cli/<platform>/bin/squawk to time squawk
	// and not node.
	Squawk string
	// Mage is the executable that runs the lintMigrations and
	// checkMigrations targets: the running mage binary in bench:lint. Each
	// row runs it in a fresh process, as a developer or CI would.
	Mage string
}

// LintRun is one row: the median wall time of the runs and the highest peak
// resident set size (the WebAssembly parser's memory lives outside the Go
// heap, so heap figures would miss it). PeakRSS is 0 without GNU time.
type LintRun struct {
	Wall    time.Duration
	PeakRSS int64
}

// LintResult is what Lint measured.
type LintResult struct {
	Files, Runs, Findings int
	// Parser is the lint's parser build ("cgo" or "wasm").
	Parser string
	// Empty is lintMigrations on an empty folder: the process's own cost,
	// the baseline for "extra memory".
	Empty LintRun
	// Cold lints new files with an empty cache; NoCache with the cache off.
	Cold, NoCache LintRun
	// Unchanged and CheckUnchanged run lintMigrations and checkMigrations
	// again on the same files, the cache warm.
	Unchanged, CheckUnchanged LintRun
	// Squawk is empty when squawk wasn't run.
	Squawk    string
	SquawkRun LintRun
}

// Lint times lintMigrations and checkMigrations on generated migrations in a
// temporary folder, cold and unchanged, against squawk on the same files in
// the same run.
func Lint(ctx context.Context, opts LintOptions) (LintResult, error) {
	if opts.Files <= 0 {
		opts.Files = 500
	}
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	if opts.Mage == "" {
		return LintResult{}, errors.New("bench: LintOptions.Mage names no executable")
	}
	tmp, err := os.MkdirTemp("", "slipway-benchlint-")
	if err != nil {
		return LintResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)
	dir, empty := filepath.Join(tmp, "migrations"), filepath.Join(tmp, "empty")
	for _, d := range []string{dir, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return LintResult{}, fmt.Errorf("bench: %w", err)
		}
	}
	paths, err := writeCorpus(dir, opts.Files)
	if err != nil {
		return LintResult{}, err
	}
	// checkMigrations wants migrations.sum, as a real folder has.
	plan, err := migfiles.PlanFix(dir, true)
	if err != nil {
		return LintResult{}, err
	}
	if err := plan.Apply(func() error { return nil }); err != nil {
		return LintResult{}, err
	}

	res := LintResult{Files: opts.Files, Runs: opts.Runs, Parser: lint.ParserBuild()}
	squawk := opts.Squawk
	if squawk == "" {
		squawk, _ = exec.LookPath("squawk")
	}
	if squawk != "" {
		res.Squawk = squawk
		if res.SquawkRun, _, err = repeat(ctx, opts.Runs, func() []string { return nil }, dir, squawk, paths...); err != nil {
			return res, err
		}
	}
	target := func(cache string) func() []string {
		return func() []string { return []string{"MIGRATIONS_DIR=" + dir, "SLIPWAY_LINT_CACHE=" + cache} }
	}
	cacheDir := filepath.Join(tmp, "cache")
	fresh := func() []string { // a new, empty cache for every run
		d, _ := os.MkdirTemp(tmp, "cold-")
		return target(d)()
	}
	if res.Empty, _, err = repeat(ctx, opts.Runs, func() []string {
		return []string{"MIGRATIONS_DIR=" + empty, "SLIPWAY_LINT_CACHE=off"}
	}, tmp, opts.Mage, "lintMigrations"); err != nil {
		return res, err
	}
	if res.Cold, _, err = repeat(ctx, opts.Runs, fresh, tmp, opts.Mage, "lintMigrations"); err != nil {
		return res, err
	}
	if res.NoCache, _, err = repeat(ctx, opts.Runs, target("off"), tmp, opts.Mage, "lintMigrations"); err != nil {
		return res, err
	}
	// The first run fills the cache; the timed ones find it full.
	if _, _, err := runOnce(ctx, target(cacheDir)(), tmp, opts.Mage, "lintMigrations"); err != nil {
		return res, err
	}
	var out []byte
	if res.Unchanged, out, err = repeat(ctx, opts.Runs, target(cacheDir), tmp, opts.Mage, "lintMigrations", "-format=json"); err != nil {
		return res, err
	}
	var findings []json.RawMessage
	if err := json.Unmarshal(out, &findings); err != nil {
		return res, fmt.Errorf("bench: lintMigrations -format=json: %w", err)
	}
	res.Findings = len(findings)
	if res.CheckUnchanged, _, err = repeat(ctx, opts.Runs, target(cacheDir), tmp, opts.Mage, "checkMigrations"); err != nil {
		return res, err
	}
	return res, nil
}

// repeat measures runs fresh processes of name args, each with the extra
// environment env() gives, and returns the median wall time, the highest
// peak RSS and the last run's output.
func repeat(ctx context.Context, runs int, env func() []string, dir, name string, args ...string) (LintRun, []byte, error) {
	var walls []time.Duration
	var run LintRun
	var out []byte
	for range runs {
		r, o, err := runOnce(ctx, env(), dir, name, args...)
		if err != nil {
			return LintRun{}, nil, err
		}
		walls = append(walls, r.Wall)
		run.PeakRSS = max(run.PeakRSS, r.PeakRSS)
		out = o
	}
	run.Wall = Median(walls)
	return run, out, nil
}

// runOnce runs name args once in dir. Exit status 1 counts as success: the
// linters exit 1 when they find something, which they do here.
//
// Peak RSS comes from GNU time, when installed, and is 0 otherwise: a
// child's peak RSS starts at its parent's when it execs, so the rusage of a
// child of this process would report at least this process's peak, while GNU
// time's own small child reports its own.
func runOnce(ctx context.Context, env []string, dir, name string, args ...string) (LintRun, []byte, error) {
	rss, err := os.CreateTemp("", "slipway-rss-")
	if err != nil {
		return LintRun{}, nil, fmt.Errorf("bench: %w", err)
	}
	rss.Close()
	defer os.Remove(rss.Name())
	cmd := exec.CommandContext(ctx, name, args...)
	if _, err := os.Stat(gnuTime); err == nil {
		cmd = exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", rss.Name(), name}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	run := LintRun{Wall: time.Since(start)}
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return LintRun{}, nil, fmt.Errorf("run %s: %w: %s", filepath.Base(name), err, strings.TrimSpace(stderr.String()))
	}
	out, err := os.ReadFile(rss.Name())
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return run, stdout.Bytes(), nil
	}
	// The file may start with "Command exited with non-zero status 1".
	fields := strings.Fields(string(out))
	kb, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		return LintRun{}, nil, fmt.Errorf("peak rss of %s: %w", filepath.Base(name), err)
	}
	run.PeakRSS = kb * 1024
	return run, stdout.Bytes(), nil
}

// gnuTime measures a child's peak memory without this process's.
const gnuTime = "/usr/bin/time"

// Goals from issue 16: an unchanged folder in 0.3 s and 50 MB over the
// process's own, new files within twice squawk's time.
const (
	goalUnchangedWall  = 300 * time.Millisecond
	goalUnchangedExtra = 50 << 20
	goalColdVsSquawk   = 2.0
)

// Print writes the table.
func (r LintResult) Print(w io.Writer) {
	t := Table{
		Title: fmt.Sprintf("bench:lint: %d generated migrations, each row a fresh process, median of %d runs", r.Files, r.Runs),
		About: []string{
			"parser build: " + r.Parser + " (wasm means mage was built without a C compiler: see docs)",
			"extra RSS is over lintMigrations on an empty folder (the process's own memory)",
		},
		Header: []string{"row", "wall", "peak RSS", "extra RSS"},
	}
	row := func(name string, run LintRun) {
		extra := ""
		if run.PeakRSS > 0 && r.Empty.PeakRSS > 0 {
			extra = Size(max(run.PeakRSS-r.Empty.PeakRSS, 0))
		}
		t.Add(name, Dur(run.Wall), rssCell(run.PeakRSS), extra)
	}
	if r.Squawk != "" {
		t.Add("squawk", Dur(r.SquawkRun.Wall), rssCell(r.SquawkRun.PeakRSS), "")
	}
	row("lintMigrations, new files (empty cache)", r.Cold)
	row("lintMigrations, cache off", r.NoCache)
	row("lintMigrations, unchanged (cached)", r.Unchanged)
	row("checkMigrations, unchanged (cached)", r.CheckUnchanged)
	t.Add("lintMigrations, empty folder", Dur(r.Empty.Wall), rssCell(r.Empty.PeakRSS), "")
	t.Note("findings: %d", r.Findings)
	for _, u := range []struct {
		name string
		run  LintRun
	}{{"lintMigrations", r.Unchanged}, {"checkMigrations", r.CheckUnchanged}} {
		extra := "n/a"
		if u.run.PeakRSS > 0 && r.Empty.PeakRSS > 0 {
			extra = Size(max(u.run.PeakRSS-r.Empty.PeakRSS, 0))
		}
		t.Note("%s unchanged: %s (goal <= %s), extra RSS %s (goal <= %s)", u.name, Dur(u.run.Wall),
			Dur(goalUnchangedWall), extra, Size(goalUnchangedExtra))
	}
	if r.Squawk == "" {
		t.Note("squawk: not found (npm install -g squawk-cli@2.66.0, or -squawk=<path>)")
	} else {
		t.Note("new files vs squawk: %s time (goal <= %.0fx), %s peak memory", Ratio(r.Cold.Wall, r.SquawkRun.Wall),
			goalColdVsSquawk, Ratio(r.Cold.PeakRSS, r.SquawkRun.PeakRSS))
	}
	t.Print(w)
}

func rssCell(b int64) string {
	if b == 0 {
		return "n/a (needs " + gnuTime + ")"
	}
	return Size(b)
}

// corpusTemplates are realistic migrations, safe and unsafe, in the shapes
// Slipway writes: %[1]d makes names unique per file.
var corpusTemplates = []string{
	`-- +goose Up
CREATE TABLE t%[1]d (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX t%[1]d_email_key ON t%[1]d (lower(email));

-- +goose Down
DROP TABLE t%[1]d;
`,
	`-- +goose Up
SET lock_timeout = '2s';
ALTER TABLE t%[1]d ADD COLUMN plan text;
ALTER TABLE t%[1]d ADD CONSTRAINT t%[1]d_plan_nn CHECK (plan IS NOT NULL) NOT VALID;

-- +goose Down
ALTER TABLE t%[1]d DROP COLUMN plan;
`,
	`-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS t%[1]d_plan_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS t%[1]d_plan_idx ON t%[1]d (plan);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS t%[1]d_plan_idx;
`,
	`-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION t%[1]d_touch() RETURNS trigger AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER t%[1]d_touch BEFORE UPDATE ON t%[1]d FOR EACH ROW EXECUTE FUNCTION t%[1]d_touch();

-- +goose Down
DROP TRIGGER t%[1]d_touch ON t%[1]d;
DROP FUNCTION t%[1]d_touch();
`,
	`-- +goose Up
ALTER TABLE t%[1]d ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE t%[1]d RENAME COLUMN email TO email_address;
CREATE INDEX t%[1]d_token_idx ON t%[1]d (token);
INSERT INTO settings (key, value) VALUES ('t%[1]d', '{"a": 1}'::jsonb) ON CONFLICT (key) DO NOTHING;

-- +goose Down
ALTER TABLE t%[1]d DROP COLUMN token;
`,
}

// writeCorpus writes n generated goose migrations into dir, a mix of safe
// and unsafe ones, and returns their names in order.
func writeCorpus(dir string, n int) ([]string, error) {
	var names []string
	for i := range n {
		name := fmt.Sprintf("%05d_step.sql", i+1)
		src := fmt.Sprintf(corpusTemplates[i%len(corpusTemplates)], i/len(corpusTemplates))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return nil, fmt.Errorf("write corpus: %w", err)
		}
		names = append(names, name)
	}
	return names, nil
}
