package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// What `mage deploy` prints, as the command→serving rows read it: each
// line with when it came.
var deployLines = []struct {
	at   time.Duration
	line string
}{
	{300 * time.Millisecond, "checkMigrations: migrations ok"},
	{420 * time.Millisecond, "connected to sandbox (admin@127.0.0.1:2222), 0.4s after the command started"},
	{500 * time.Millisecond, "uploading bin/app (14.1 MiB, sha256 0123abcd) to sandbox:/srv/app/releases/r2"},
	{650 * time.Millisecond, "verified sha256 on sandbox; release r2 is v2 (abc)"},
	{750 * time.Millisecond, "release r2 has 1 migration(s) pending (database at version 5, release at 6): backing up first"},
	{1430 * time.Millisecond, "backup 20261207T210000Z: 0.1 MiB, schema version 5, in 176ms (/srv/app/backups/x)"},
	{1500 * time.Millisecond, "starting app@r2.service beside the live release, waiting up to 30s for it to be ready with commit abc"},
	{2840 * time.Millisecond, "  [0.0s] starting app@r2.service beside app@r1.service, up to 30s for READY=1 (migrations, database, readiness)"},
	{2840 * time.Millisecond, "  [0.5s] app@r2.service is ready: version=v2 commit=abc"},
	{2840 * time.Millisecond, "sandbox serves v2 (abc) (release r2)"},
	{3000 * time.Millisecond, "deployed in 2.1s (from the command's start to the new release serving)"},
}

func TestServingReadsDeploysProgressLines(t *testing.T) {
	run := ServingRun{Printed: -1, Ready: -1, Marks: map[string]time.Duration{}}
	for _, l := range deployLines {
		readLine(&run, l.at, l.line)
	}
	want := map[string]time.Duration{"checked": 300, "connected": 420, "uploading": 500, "verified": 650, "asked": 750,
		"backed up": 1430, "handover": 1500, "switched": 2840, "printed": 3000}
	for name, ms := range want {
		if got, ok := run.Marks[name]; !ok || got != ms*time.Millisecond {
			t.Errorf("mark %q at %s (seen %v), want %dms", name, got, ok, ms)
		}
	}
	if len(run.Marks) != len(want) {
		t.Errorf("marks %v, want exactly %d", run.Marks, len(want))
	}
	if run.Printed != 2100*time.Millisecond || run.Ready != 500*time.Millisecond {
		t.Errorf("printed %s, ready %s; want 2.1s and 0.5s", run.Printed, run.Ready)
	}
}

func TestServingTableHasBothFlowsTheRatioAndThePhases(t *testing.T) {
	// The tree's lines come in half the time.
	mk := func(scale float64, serving, exit, printed time.Duration, failed int) ServingRun {
		run := ServingRun{Printed: -1, Ready: -1, Marks: map[string]time.Duration{}}
		for _, l := range deployLines {
			readLine(&run, time.Duration(float64(l.at)*scale), l.line)
		}
		run.Serving, run.Exit, run.Printed = serving, exit, printed
		run.Marks["serving"], run.Marks["exit"] = serving, exit
		run.Load.Sent, run.Load.Failed = 300, failed
		return run
	}
	rows := []ServingRow{
		{Name: "today's flow (207fac8)", Runs: []ServingRun{mk(1, 2900*time.Millisecond, 3300*time.Millisecond, 3600*time.Millisecond, 0)}},
		{Name: "this tree", Runs: []ServingRun{mk(0.5, 1400*time.Millisecond, 1800*time.Millisecond, 1400*time.Millisecond, 2)}},
	}
	var out bytes.Buffer
	printServing(&out, rows, 100)
	s := out.String()
	for _, want := range []string{
		"\ntoday's flow (207fac8)  2.9s", "\nthis tree               1.4s", "\nratio tree / today      0.48x",
		// Fast enough, but requests failed.
		"goal (issue 27): command→serving median ≤ 1.5s with 0 failed requests: not met (1.4s, 2 failed)",
		// Phases: the backup (0.68 s, half that in the tree), handover → serving.
		"\ntoday's flow (207fac8)  300ms                      120ms    80ms           150ms           100ms                680ms   70ms   1.4s",
		"\nthis tree               150ms                      60ms     40ms           75ms            50ms                 340ms   35ms   650ms",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the table lacks %q:\n%s", want, s)
		}
	}
}
