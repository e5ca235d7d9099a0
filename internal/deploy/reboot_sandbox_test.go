package deploy

// Reboot drills on a sandbox whose root survives its reboots: the boot path
// as it happens on a real server (PostgreSQL recovering, units ordered as at
// boot, the app's socket and current unit starting the current release),
// not units stopped and started by hand.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/version"
)

// rebootHost is the drills' own private sandbox (its address .9): rebooting
// it disturbs no other test's sandbox.
const rebootHost = 9

func TestRebootDrillsOnSandbox(t *testing.T) {
	sb := sandboxtest.Private(t, rebootHost, sandbox.WithPersistentRoot())
	e := provisionedOn(t, sb, service.DefaultConfig())
	r1 := deployOK(t, e.options(new(bytes.Buffer), appBinary(t, "rb1", "ab0deb01")))
	e.consistent(t, r1.Release)
	e.psql(t, "app", "CREATE TABLE IF NOT EXISTS drill (id bigserial PRIMARY KEY, note text NOT NULL)")

	t.Run("systemctl reboot inside: the current release comes back alone, every committed row too", func(t *testing.T) {
		rows := e.writeRows(t, "before the reboot")
		w := watchServing(e.svc.ListenAddr, "ab0deb01")
		d, err := sb.Reboot(t.Context())
		if err != nil {
			t.Fatalf("reboot: %v", err)
		}
		bootStart := time.Now().Add(-d)
		serving := w.wait(t)
		t.Logf("reboot drill: sandbox ready %s after boot start, release %s serving %s after boot start",
			d.Round(10*time.Millisecond), r1.Release, serving.Sub(bootStart).Round(10*time.Millisecond))
		e.afterBoot(t, r1.Release, rows)
	})

	t.Run("a crash (the whole container SIGKILLed) right after a deploy's switch", func(t *testing.T) {
		// A crash, not a power cut: this machine's page cache survives it,
		// so it does not test fsync.
		bin := appBinary(t, "rb2", "ab0deb02")
		o := e.options(new(bytes.Buffer), bin)
		var (
			rows    int
			crashed bool
		)
		o.Step = func(name string) {
			if name != "switched" || crashed {
				return
			}
			crashed = true
			rows = e.writeRows(t, "after the switch")
			if err := sb.Crash(context.Background()); err != nil {
				t.Errorf("crash: %v", err)
			}
		}
		// The deploy loses its server mid-way: its error is expected. Its
		// connection may wait on a peer that is gone: bound it.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := Deploy(ctx, o, false)
		t.Logf("deploy with the crash at its switch: %v\n%s", err, o.Stdout.(*bytes.Buffer).String())
		if !crashed {
			t.Fatalf("the deploy never reached its switch:\n%s", o.Stdout.(*bytes.Buffer).String())
		}
		w := watchServing(e.svc.ListenAddr, "ab0deb02")
		start := time.Now()
		d, err := sb.Boot(t.Context())
		if err != nil {
			t.Fatalf("boot after the crash: %v", err)
		}
		serving := w.wait(t)
		rel := e.releaseOf(t, bin)
		t.Logf("crash drill: sandbox ready %s after boot start, release %s serving %s after boot start",
			d.Round(10*time.Millisecond), rel, serving.Sub(start).Round(10*time.Millisecond))
		e.afterBoot(t, rel, rows)
	})
}

// writeRows commits rows into the app's database, one big transaction and
// ten small ones as an app would, and returns how many the table holds.
func (e sandboxEnv) writeRows(t *testing.T, note string) int {
	t.Helper()
	e.psql(t, "app", "INSERT INTO drill (note) SELECT "+sqlString(note)+" FROM generate_series(1, 1000)")
	for range 10 {
		e.psql(t, "app", "INSERT INTO drill (note) VALUES ("+sqlString(note)+")")
	}
	n, err := strconv.Atoi(e.psql(t, "app", "SELECT count(*) FROM drill"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sqlString is s as a SQL string literal.
func sqlString(s string) string {
	return "'" + string(bytes.ReplaceAll([]byte(s), []byte("'"), []byte("''"))) + "'"
}

// afterBoot checks a server that just booted: release is current and serves
// by itself (the only instance running, its commit answering /version),
// nothing was started by hand, and PostgreSQL recovered all rows committed
// before.
func (e sandboxEnv) afterBoot(t *testing.T, release string, rows int) {
	t.Helper()
	e.consistent(t, release)
	// /version carries the commit (each release of the drills has its
	// own); the instance's status line names its release.
	if st := e.sh(t, "systemctl show -P StatusText "+e.svc.InstanceUnit(release)); !strings.Contains(st, "release="+release) {
		t.Errorf("status of %s: %q, want release=%s", e.svc.InstanceUnit(release), st, release)
	}
	if n := e.psql(t, "app", "SELECT count(*) FROM drill"); n != strconv.Itoa(rows) {
		t.Errorf("rows after the boot: %s, want the %d committed before", n, rows)
	}
	if st := e.sh(t, "systemctl is-system-running || true"); st != "running" {
		t.Errorf("system after the boot: %s", st)
	}
}

// servingWatch polls the app's /version from before a boot: the first
// answer of the wanted commit after the server went away is when it served.
type servingWatch struct {
	mu   sync.Mutex
	at   time.Time
	stop chan struct{}
	done chan struct{}
}

func watchServing(addr, commit string) *servingWatch {
	w := &servingWatch{stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: time.Second}
	go func() {
		defer close(w.done)
		down := false
		for {
			resp, err := c.Get("http://" + addr + "/version")
			ok := false
			if err == nil {
				var v version.Info
				ok = json.NewDecoder(resp.Body).Decode(&v) == nil && v.Commit == commit
				resp.Body.Close()
			} else {
				down = true
			}
			if ok && down {
				w.mu.Lock()
				w.at = time.Now()
				w.mu.Unlock()
				return
			}
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

// wait returns when the app served again, failing the test after 2 minutes.
func (w *servingWatch) wait(t *testing.T) time.Time {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		close(w.stop)
		<-w.done
		t.Fatal("the app did not serve within 2 minutes of the boot")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at.IsZero() {
		t.Fatal("the app's /version was never down and up again")
	}
	return w.at
}
