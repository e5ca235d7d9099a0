package service

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseHandoverReadsStepsLogsAndTheResult(t *testing.T) {
	out := "step [0.1s] starting app@r2.service beside app@r1.service\n" +
		"why app@r2.service ended before it was ready (activating/auto-restart)\n" +
		"log {\"msg\":\"migration failed\"}\n" +
		"log app@r2.service: Main process exited, code=exited, status=1/FAILURE\n" +
		"step [2.3s] app@r1.service kept serving release r1; current and previous unchanged\n" +
		"result rolled-back kept=r1\n"
	h, err := parseHandover([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if h.Outcome != "rolled-back" || h.Detail != "kept=r1" || len(h.Steps) != 2 || len(h.Logs) != 2 ||
		!strings.Contains(h.Reason, "ended before it was ready") {
		t.Errorf("parsed %+v", h)
	}
	if _, err := parseHandover([]byte("step [0.0s] starting\n")); err == nil {
		t.Error("output without a result line parsed as a result")
	}
}

// A release name reaches a unit name, a folder and a file under /run:
// refused before anything runs on the server (a nil Runner would panic).
func TestHandoverRefusesABadReleaseName(t *testing.T) {
	for _, rel := range []string{"", "../etc", "a b", "-x", "r1;reboot"} {
		_, err := Handover(context.Background(), nil, DefaultConfig(), HandoverRequest{Release: rel, ReadyTimeout: time.Minute})
		if err == nil || !strings.Contains(err.Error(), "release") {
			t.Errorf("release %q: %v", rel, err)
		}
	}
}

func TestAnInstanceNameCarriesItsReleaseAndGeneration(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		name, release string
		gen           int
	}{
		{"20260102T030405Z-0123456789ab", "20260102T030405Z-0123456789ab", 0},
		{c.InstanceName("20260102T030405Z-0123456789ab", 3), "20260102T030405Z-0123456789ab", 3},
		{"t1.gx", "t1.gx", 0},
		{"t1.g0", "t1.g0", 0},
	} {
		rel, gen := splitInstance(tc.name)
		if rel != tc.release || gen != tc.gen {
			t.Errorf("%s: release %s generation %d, want %s %d", tc.name, rel, gen, tc.release, tc.gen)
		}
	}
}
