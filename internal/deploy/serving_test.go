package deploy

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// The handover's steps as the server prints them.
var steps = []string{
	"[0.0s] starting app@r2.service beside app@r1.service, up to 30s for READY=1 (migrations, database, readiness)",
	"[0.5s] app@r2.service is ready: version=v2 commit=abc",
	"[0.5s] current -> releases/r2, previous -> r1",
	"[0.6s] stopping app@r1.service: it finishes its requests, the socket stays with app@r2.service",
}

func TestServingIsWhenTheServerSawTheInstanceReady(t *testing.T) {
	// Called at 1.0 s, returned at 2.3 s (the old instance's drain): the
	// release served from 1.5 s.
	if got := readyAt(at(1000), at(2300), steps); !got.Equal(at(1500)) {
		t.Errorf("ready at %s, want 1.5 s (the call + the ready step's 0.5 s)", got.Sub(t0))
	}
	// Milliseconds, as a server may print them.
	ms := []string{"[0.512s] app@r2.service is ready: version=v2 commit=abc"}
	if got := readyAt(at(1000), at(2300), ms); !got.Equal(at(1512)) {
		t.Errorf("ready at %s, want 1.512 s", got.Sub(t0))
	}
}

func TestServingFallsBackToTheHandoversEnd(t *testing.T) {
	for name, s := range map[string][]string{
		"no ready step":        steps[2:],
		"no offset":            {"app@r2.service is ready: version=v2 commit=abc"},
		"offset not seconds":   {"[soon] app@r2.service is ready: version=v2 commit=abc"},
		"offset past its call": {"[9.0s] app@r2.service is ready: version=v2 commit=abc"},
	} {
		if got := readyAt(at(1000), at(2300), s); !got.Equal(at(2300)) {
			t.Errorf("%s: ready at %s, want the handover's return, 2.3 s", name, got.Sub(t0))
		}
	}
}

func TestDeployedInCountsToTheLastHostServing(t *testing.T) {
	rs := []Result{{Serving: at(1400)}, {Serving: at(2950)}}
	if got := deployedIn(t0, rs, at(3600)); got != 3*time.Second {
		t.Errorf("deployed in %s, want 3s: up to the last host serving (2.95 s), not the prune and exit after it (3.6 s)", got)
	}
	// Nothing changed (every host already ran the release): up to now.
	if got := deployedIn(t0, []Result{{}}, at(800)); got != 800*time.Millisecond {
		t.Errorf("deployed in %s, want 800ms (now)", got)
	}
}
