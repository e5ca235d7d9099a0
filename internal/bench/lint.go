package bench

import (
	"bufio"
	"bytes"
	"context"
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
)

// LintOptions configures Lint.
type LintOptions struct {
	// Files is the number of generated migrations; 0 is 500.
	Files int
	// Runs is the number of timed warm runs per tool; 0 is 5.
	Runs int
	// Squawk is the squawk executable to compare with; "" looks up "squawk"
	// on PATH, and the comparison is skipped when there is none. npm's
	// squawk-cli installs a node wrapper: point this at the native binary
	// under node_modules/@squawk-cli/<platform>/bin/squawk to time squawk
	// and not node.
	Squawk string
}

// LintResult is what Lint measured. Peak memory is resident set size,
// since the WebAssembly parser's memory lives outside the Go heap.
type LintResult struct {
	Files, Findings int
	// Cold is the first lint in this process: it includes compiling and
	// instantiating the parser, the cost every `go run mage.go` pays once.
	Cold time.Duration
	// Warm is the median of the later runs.
	Warm time.Duration
	// PeakRSS is this process's peak after linting; BaseRSS before.
	PeakRSS, BaseRSS int64
	// Squawk is empty when squawk wasn't run.
	Squawk        string
	SquawkTime    time.Duration
	SquawkPeakRSS int64
}

// Lint lints generated migrations in a temporary directory and times the
// same files with squawk when available. Run it in a fresh process (`go run
// mage.go bench:lint`): an earlier parse in the process would hide the
// parser's start-up cost.
func Lint(ctx context.Context, opts LintOptions) (LintResult, error) {
	if opts.Files <= 0 {
		opts.Files = 500
	}
	if opts.Runs <= 0 {
		opts.Runs = 5
	}
	tmp, err := os.MkdirTemp("", "slipway-benchlint-")
	if err != nil {
		return LintResult{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)
	paths, err := writeCorpus(tmp, opts.Files)
	if err != nil {
		return LintResult{}, err
	}

	res := LintResult{Files: opts.Files}
	res.BaseRSS, _ = peakRSS()
	// squawk first, while this process is small: see runSquawk.
	squawk := opts.Squawk
	if squawk == "" {
		squawk, _ = exec.LookPath("squawk")
	}
	if squawk != "" {
		var times []time.Duration
		for range opts.Runs {
			d, rss, err := runSquawk(ctx, squawk, tmp, paths)
			if err != nil {
				return res, err
			}
			times = append(times, d)
			res.SquawkPeakRSS = max(res.SquawkPeakRSS, rss)
		}
		res.Squawk, res.SquawkTime = squawk, Median(times)
	}
	start := time.Now()
	findings, err := lint.Dir(ctx, tmp)
	if err != nil {
		return res, err
	}
	res.Cold = time.Since(start)
	res.Findings = len(findings)
	var warm []time.Duration
	for range opts.Runs {
		start := time.Now()
		if _, err := lint.Dir(ctx, tmp); err != nil {
			return res, err
		}
		warm = append(warm, time.Since(start))
	}
	res.Warm = Median(warm)
	if res.PeakRSS, err = peakRSS(); err != nil {
		return res, err
	}
	return res, nil
}

// runSquawk lints the files with squawk once. squawk exits 1 when it finds
// something, which it does: it lints the Down sections too.
//
// Its peak RSS comes from GNU time, when installed, and is 0 otherwise: a
// child's peak RSS starts at its parent's when it execs, so the rusage of a
// child of this process would report at least this process's peak, while GNU
// time's own small child reports its own.
func runSquawk(ctx context.Context, squawk, dir string, paths []string) (time.Duration, int64, error) {
	rssFile := filepath.Join(dir, "squawk.rss")
	cmd := exec.CommandContext(ctx, squawk, paths...)
	if _, err := os.Stat(gnuTime); err == nil {
		cmd = exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", rssFile, squawk}, paths...)...)
	}
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return 0, 0, fmt.Errorf("run squawk: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	out, err := os.ReadFile(rssFile)
	if err != nil {
		return d, 0, nil
	}
	// The file may start with "Command exited with non-zero status 1".
	lines := strings.Fields(string(out))
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("squawk peak rss: %w", err)
	}
	return d, kb * 1024, nil
}

// gnuTime measures a child's peak memory without this process's.
const gnuTime = "/usr/bin/time"

// Print writes the table.
func (r LintResult) Print(w io.Writer) {
	t := Table{
		Title:  fmt.Sprintf("bench:lint: %d generated migrations", r.Files),
		Header: []string{"tool", "files", "wall", "peak RSS"},
	}
	t.Add("lintMigrations, cold", fmt.Sprint(r.Files), ms(r.Cold), mb(r.PeakRSS))
	t.Add("lintMigrations, warm", fmt.Sprint(r.Files), ms(r.Warm), "")
	if r.Squawk != "" {
		rss := "n/a (needs " + gnuTime + ")"
		if r.SquawkPeakRSS > 0 {
			rss = mb(r.SquawkPeakRSS)
		}
		t.Add("squawk", fmt.Sprint(r.Files), ms(r.SquawkTime), rss)
	}
	t.Note("findings: %d; RSS before linting: %s", r.Findings, mb(r.BaseRSS))
	switch {
	case r.Squawk == "":
		t.Note("squawk: not found (npm install squawk-cli, then -squawk=<path>)")
	case r.SquawkPeakRSS > 0:
		t.Note("ratio lintMigrations/squawk: cold %.1fx, warm %.2fx time; %.1fx peak memory",
			r.Cold.Seconds()/r.SquawkTime.Seconds(), r.Warm.Seconds()/r.SquawkTime.Seconds(), float64(r.PeakRSS)/float64(r.SquawkPeakRSS))
	default:
		t.Note("ratio lintMigrations/squawk: cold %.1fx, warm %.2fx time",
			r.Cold.Seconds()/r.SquawkTime.Seconds(), r.Warm.Seconds()/r.SquawkTime.Seconds())
	}
	t.Print(w)
}

// peakRSS reads the process's high-water resident set size.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("peak rss: no VmHWM in /proc/self/status")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
func mb(b int64) string         { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

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
