package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRebootAndCrashNeedAPersistentRoot(t *testing.T) {
	sb, err := New(nil, WithName("volatile"), WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	inst := sb.instance(state{PID: 1, Port: 2222})
	_, rerr := inst.Reboot(t.Context())
	_, berr := inst.Boot(t.Context())
	for _, err := range []error{rerr, inst.Crash(t.Context()), berr} {
		if err == nil || !strings.Contains(err.Error(), "WithPersistentRoot") {
			t.Errorf("on a volatile root: %v, want the WithPersistentRoot hint", err)
		}
	}
}

func TestPersistentRootSurvivesARebootAndACrash(t *testing.T) {
	needSandbox(t)
	nw := newNetwork(t)
	sb := newPrivateSandbox(t, "persist", nw, 2, WithPersistentRoot())
	inst := up(t, sb)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// Written without sync: the page cache of this machine holds it.
	if _, err := inst.Run(ctx, "sh", "-c", "echo before-reboot > /var/lib/slipway-mark"); err != nil {
		t.Fatal(err)
	}
	first := *inst
	d, err := inst.Reboot(ctx)
	if err != nil {
		t.Fatalf("reboot: %v", err)
	}
	t.Logf("reboot: ready again %s after nspawn's start", d.Round(100*time.Millisecond))
	if inst.PID == first.PID || inst.Leader == first.Leader {
		t.Errorf("after reboot: pid %d leader %d, the same as before", inst.PID, inst.Leader)
	}
	if alive(first.PID, first.state.StartTime) || alive(first.Leader, first.state.LeaderStartTime) {
		t.Errorf("the first boot's nspawn %d or init %d still runs", first.PID, first.Leader)
	}
	if got, err := inst.Run(ctx, "cat", "/var/lib/slipway-mark"); err != nil || got != "before-reboot\n" {
		t.Errorf("file written before the reboot: %q %v", got, err)
	}
	checkServes(t, inst)
	st, err := sb.Status(ctx)
	if err != nil || st.PID != inst.PID || st.Leader != inst.Leader {
		t.Errorf("status after reboot: %v %+v, want pid %d leader %d", err, st, inst.PID, inst.Leader)
	}

	if _, err := inst.Run(ctx, "sh", "-c", "echo before-crash > /var/lib/slipway-mark2"); err != nil {
		t.Fatal(err)
	}
	second := *inst
	if err := inst.Crash(ctx); err != nil {
		t.Fatalf("crash: %v", err)
	}
	if alive(second.PID, second.state.StartTime) || alive(second.Leader, second.state.LeaderStartTime) {
		t.Fatalf("after crash nspawn %d or init %d still runs", second.PID, second.Leader)
	}
	start := time.Now()
	d, err = inst.Boot(ctx)
	if err != nil {
		t.Fatalf("boot after crash: %v", err)
	}
	t.Logf("boot after crash: ready %s after nspawn's start (%s with the remount)", d.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	for f, want := range map[string]string{"/var/lib/slipway-mark": "before-reboot\n", "/var/lib/slipway-mark2": "before-crash\n"} {
		if got, err := inst.Run(ctx, "cat", f); err != nil || got != want {
			t.Errorf("%s after the crash: %q %v, want %q", f, got, err, want)
		}
	}
	checkServes(t, inst)

	if err := sb.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	checkGone(t, sb, inst)
	for _, was := range []Instance{first, second} {
		if alive(was.PID, was.state.StartTime) || alive(was.Leader, was.state.LeaderStartTime) {
			t.Errorf("pid %d or %d of an earlier boot runs after down", was.PID, was.Leader)
		}
	}
}
