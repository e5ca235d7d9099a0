package helper

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FakeSystemd is a Systemd for unit tests: units are property maps, a start
// makes a unit active/running (or what OnStart makes of it), and every
// call is recorded in Calls ("start app@x.service", "stop ...").
type FakeSystemd struct {
	mu sync.Mutex
	// Units by name; Show of an unknown unit reports it inactive/dead.
	Units map[string]map[string]string
	// OnStart, if set, runs on each start after the unit got a new
	// InvocationID and became activating/start; it sets the state the start
	// ends in (Set). Without it a start ends active/running.
	OnStart func(f *FakeSystemd, unit string)
	// JournalLines are what Journal returns, by the match joined by spaces.
	JournalLines map[string][]string
	// Fail makes a call fail: key "start app@x.service" → the error.
	Fail map[string]error
	// Calls are the calls made, in order.
	Calls []string
	// Transients are the units Transient started.
	Transients []Transient
	inv        int

	// Handover and detached steps (P1).

	// OnTransient, if set, runs (in a goroutine of its own) after Transient
	// recorded t: a test runs the unit's command there.
	OnTransient func(f *FakeSystemd, t Transient)
}

// NewFakeSystemd returns an empty FakeSystemd.
func NewFakeSystemd() *FakeSystemd {
	return &FakeSystemd{Units: map[string]map[string]string{}, JournalLines: map[string][]string{}, Fail: map[string]error{}}
}

// Set sets unit's properties (k, v pairs), creating the unit.
func (f *FakeSystemd) Set(unit string, kv ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set(unit, kv...)
}

func (f *FakeSystemd) set(unit string, kv ...string) {
	u := f.Units[unit]
	if u == nil {
		u = map[string]string{"ActiveState": "inactive", "SubState": "dead"}
		f.Units[unit] = u
	}
	for i := 0; i+1 < len(kv); i += 2 {
		u[kv[i]] = kv[i+1]
	}
}

// State is unit's ActiveState/SubState.
func (f *FakeSystemd) State(unit string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.Units[unit]
	if u == nil {
		return "inactive/dead"
	}
	return u["ActiveState"] + "/" + u["SubState"]
}

// Called reports the calls so far, in order.
func (f *FakeSystemd) Called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

func (f *FakeSystemd) call(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, what)
	return f.Fail[what]
}

// Show implements Systemd.
func (f *FakeSystemd) Show(_ context.Context, unit string, props ...string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.Units[unit]
	m := map[string]string{}
	for _, p := range props {
		v, ok := u[p]
		if !ok {
			switch p {
			case "ActiveState":
				v = "inactive"
			case "SubState":
				v = "dead"
			}
		}
		m[p] = v
	}
	return m, nil
}

// List implements Systemd.
func (f *FakeSystemd) List(_ context.Context, pattern string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.Units {
		if ok, _ := path.Match(pattern, n); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Start implements Systemd.
func (f *FakeSystemd) Start(_ context.Context, unit string, _ bool) error {
	if err := f.call("start " + unit); err != nil {
		return err
	}
	f.mu.Lock()
	if u := f.Units[unit]; u != nil && u["ActiveState"] == "active" {
		f.mu.Unlock()
		return nil
	}
	f.inv++
	f.set(unit, "ActiveState", "activating", "SubState", "start", "InvocationID", fmt.Sprintf("inv%d", f.inv))
	hook := f.OnStart
	f.mu.Unlock()
	if hook != nil {
		hook(f, unit)
		return nil
	}
	f.Set(unit, "ActiveState", "active", "SubState", "running")
	return nil
}

// Stop implements Systemd.
func (f *FakeSystemd) Stop(_ context.Context, unit string) error {
	if err := f.call("stop " + unit); err != nil {
		return err
	}
	f.Set(unit, "ActiveState", "inactive", "SubState", "dead")
	return nil
}

// ResetFailed implements Systemd.
func (f *FakeSystemd) ResetFailed(_ context.Context, unit string) error {
	return f.call("reset-failed " + unit)
}

// Enable implements Systemd.
func (f *FakeSystemd) Enable(_ context.Context, unit string) error {
	if err := f.call("enable " + unit); err != nil {
		return err
	}
	f.Set(unit, "UnitFileState", "enabled")
	return nil
}

// Disable implements Systemd.
func (f *FakeSystemd) Disable(_ context.Context, unit string) error {
	if err := f.call("disable " + unit); err != nil {
		return err
	}
	f.Set(unit, "UnitFileState", "disabled")
	return nil
}

// DaemonReload implements Systemd.
func (f *FakeSystemd) DaemonReload(context.Context) error { return f.call("daemon-reload") }

// Transient implements Systemd.
func (f *FakeSystemd) Transient(_ context.Context, t Transient) error {
	if err := f.call("run " + t.Unit); err != nil {
		return err
	}
	f.mu.Lock()
	f.Transients = append(f.Transients, t)
	hook := f.OnTransient
	f.mu.Unlock()
	if hook != nil {
		go hook(f, t)
	}
	return nil
}

// Journal implements Systemd.
func (f *FakeSystemd) Journal(_ context.Context, match []string, n int, _ time.Time) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines := f.JournalLines[strings.Join(match, " ")]
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string(nil), lines...), nil
}

// Invocations is how many starts the fake has seen, as a string (for
// tests that compare InvocationIDs).
func (f *FakeSystemd) Invocations() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.Itoa(f.inv)
}

// Provision (P4).

// Restart implements Systemd: the unit runs again, with a new invocation.
func (f *FakeSystemd) Restart(_ context.Context, unit string) error {
	if err := f.call("restart " + unit); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inv++
	f.set(unit, "ActiveState", "active", "SubState", "running", "InvocationID", fmt.Sprintf("inv%d", f.inv))
	return nil
}

// Reload implements Systemd.
func (f *FakeSystemd) Reload(_ context.Context, unit string) error { return f.call("reload " + unit) }

// P3 (exec, psql):

// Attach implements Systemd: it records t and returns 0, or the error
// Fail holds for "attach <description>".
func (f *FakeSystemd) Attach(_ context.Context, t Transient, _ string, _ io.Reader, _, _ io.Writer) (int, error) {
	if err := f.call("attach " + t.Description); err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.Transients = append(f.Transients, t)
	f.mu.Unlock()
	return 0, nil
}
