package applogs

import (
	"bytes"
	"context"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/syncbuf"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

func TestBadOptionsAreRefusedBeforeConnecting(t *testing.T) {
	for o, want := range map[Options]string{{Grep: "a(b"}: "-grep", {Lines: -1}: "-n=-1"} {
		if err := Run(context.Background(), []Host{{Alias: "x"}}, service.DefaultConfig(), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error naming %s", o, err, want)
		}
	}
}

// TestLogsOnTheSandbox writes lines into two instances' journals and reads
// them through two aliases of the sandbox (two hosts): prefixed, merged in
// time order, filtered, escapes cleaned.
func TestLogsOnTheSandbox(t *testing.T) {
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	cl := sandboxtest.Dial(t, sb)
	c := service.DefaultConfig()
	// Units of this run's own (logtN@r1, logtN@r2): the sandbox's journal
	// outlives a run.
	c.AppName = "logt" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	unit := func(r string) string { return c.AppName + "@" + r }
	// Interleaved between the two instances, with a terminal escape.
	for _, cmd := range []string{
		"systemd-run --quiet --collect --unit=" + unit("r1") + ` sh -c 'echo first; sleep 1; echo third; sleep 1; printf "esc \033[2J here\n"'`,
		"sleep 0.5; systemd-run --quiet --wait --collect --unit=" + unit("r2") + ` sh -c 'echo second; sleep 1; echo fourth'`,
		`sleep 2; journalctl --sync`,
	} {
		if out, err := remotetest.RootShell(ctx, cl, cmd, nil); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	hosts := []Host{{Alias: "one", Conn: cl}, {Alias: "two", Conn: cl}}
	var out bytes.Buffer
	if err := Run(ctx, hosts, c, Options{Lines: 100}, &out); err != nil {
		t.Fatalf("logs: %v\n%s", err, out.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		for _, w := range []string{"first", "second", "third", "fourth"} {
			if strings.HasSuffix(l, ": "+w) {
				got = append(got, strings.Fields(l)[0]+" "+w)
			}
		}
	}
	// Each host's copy of a line has the same time: "one" before "two" (stable).
	want := "one first,two first,one second,two second,one third,two third,one fourth,two fourth"
	if strings.Join(got, ",") != want {
		t.Errorf("lines in order %v, want %s\n%s", got, want, out.String())
	}
	if strings.ContainsRune(out.String(), 0x1b) || !strings.Contains(out.String(), `esc \x1b[2J here`) {
		t.Errorf("the escape was not cleaned:\n%q", out.String())
	}
	if !strings.Contains(out.String(), " "+unit("r2")+".service: second") {
		t.Errorf("lines lack their unit:\n%s", out.String())
	}

	out.Reset()
	if err := Run(ctx, hosts[:1], c, Options{Grep: "^(first|fourth)$"}, &out); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(out.String()); strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, ": fourth") || !strings.HasPrefix(s, "one ") {
		t.Errorf("-grep: %q", s)
	}

	t.Run("-f follows until cancelled", func(t *testing.T) {
		fctx, cancel := context.WithCancel(ctx)
		var mu syncbuf.Buffer
		done := make(chan error, 1)
		go func() { done <- Run(fctx, hosts[:1], c, Options{Follow: true, Lines: 1}, &mu) }()
		// Following once the last line is shown: journalctl runs.
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(mu.String(), "esc "); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("-f -n 1 never showed the last line:\n%s", mu.String())
			}
		}
		// A process that outlives its line, so journald can attribute it.
		if out, err := remotetest.RootShell(ctx, cl, "systemd-run --quiet --wait --collect --unit="+unit("r3")+" sh -c 'echo followed; sleep 1'", nil); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(mu.String(), ": followed"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("-f never showed the new line:\n%s", mu.String())
			}
		}
		ctrlC(t, cancel, done, cl)
	})
}

// TestLogsOfTwoSandboxes reads two servers at once: each line prefixed
// with its host, both journals merged in time order, with and without -f
// (whose backlogs arrive host by host: the hold of Window sorts them), the
// app's JSON lines pretty on request, and Ctrl-C ending both readers.
func TestLogsOfTwoSandboxes(t *testing.T) {
	ctx := context.Background()
	a, b := sandboxtest.Get(t), sandboxtest.Second(t)
	ca, cb := sandboxtest.Dial(t, a), sandboxtest.Dial(t, b)
	c := service.DefaultConfig()
	c.AppName = "logt" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	unit := c.AppName + "@r1"
	json := `{"time":"2026-01-02T10:00:00Z","level":"WARN","msg":"disk low","free":"3 GB","n":3}`
	started := make(chan error, 1)
	go func() {
		script := "echo one; sleep 1; echo three; sleep 1; echo " + remote.Quote(json) + "; sleep 0.5"
		_, err := remotetest.RootShell(ctx, ca, "systemd-run --quiet --wait --collect --unit="+unit+" sh -c "+remote.Quote(script), nil)
		started <- err
	}()
	if out, err := remotetest.RootShell(ctx, cb, "sleep 0.5; systemd-run --quiet --wait --collect --unit="+unit+` sh -c 'echo two; sleep 1; echo four; sleep 0.5'`, nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*remote.Client{ca, cb} {
		if out, err := remotetest.RootShell(ctx, cl, "journalctl --sync", nil); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	hosts := []Host{{Alias: "alpha", Conn: ca}, {Alias: "beta", Conn: cb}}
	const want = "alpha one,beta two,alpha three,beta four,alpha disk low"
	order := func(out string) string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			for _, w := range []string{"one", "two", "three", "four", "disk low"} {
				if strings.HasSuffix(l, ": "+w) || strings.Contains(l, w+`"`) || strings.Contains(l, " "+w+" ") {
					got = append(got, strings.Fields(l)[0]+" "+w)
				}
			}
		}
		return strings.Join(got, ",")
	}

	var out bytes.Buffer
	if err := Run(ctx, hosts, c, Options{Lines: 100}, &out); err != nil {
		t.Fatalf("logs: %v\n%s", err, out.String())
	}
	if got := order(out.String()); got != want {
		t.Errorf("lines %s, want %s\n%s", got, want, out.String())
	}
	if !strings.Contains(out.String(), " "+unit+".service: "+json+"\n") {
		t.Errorf("raw output lacks the JSON line as written:\n%s", out.String())
	}

	out.Reset()
	if err := Run(ctx, hosts, c, Options{Lines: 100, Pretty: true}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ".service: WARN disk low free=\"3 GB\" n=3\n") {
		t.Errorf("-pretty output lacks the JSON line as level, message, keys:\n%s", out.String())
	}

	t.Run("-f merges the backlogs in time order and Ctrl-C ends both readers", func(t *testing.T) {
		fctx, cancel := context.WithCancel(ctx)
		var buf syncbuf.Buffer
		done := make(chan error, 1)
		go func() { done <- Run(fctx, hosts, c, Options{Follow: true, Lines: 100}, &buf) }()
		for deadline := time.Now().Add(20 * time.Second); order(buf.String()) != want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("-f showed %s, want %s\n%s", order(buf.String()), want, buf.String())
			}
		}
		ctrlC(t, cancel, done, ca, cb)
	})
}

// ctrlC cancels a running logs -f (its Run's result comes on done) and
// fails the test unless Run returns cleanly and journalctl ends on every
// server, each within 20 s.
func ctrlC(t *testing.T, cancel func(), done <-chan error, servers ...*remote.Client) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("-f ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("-f did not end after cancel")
	}
	for _, cl := range servers {
		noJournalctl(t, cl)
	}
}

// noJournalctl fails the test unless logs' journalctl ends on the server cl
// reaches within 20 s.
func noJournalctl(t *testing.T, cl *remote.Client) {
	t.Helper()
	// [j]: the pattern must not match the shell running pgrep.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		n, _ := remotetest.RootShell(context.Background(), cl, "pgrep -fc '[j]ournalctl --no-pager -o json' || true", nil)
		if strings.TrimSpace(string(n)) == "0" {
			return
		}
		if time.Now().After(deadline) {
			ps, _ := remotetest.RootShell(context.Background(), cl, "ps -ef | grep '[j]ournalctl'", nil)
			t.Fatalf("the remote journalctl still runs after Ctrl-C:\n%s", ps)
		}
	}
}

// systemd names a slice after the template's prefix with '-' escaped: an
// app called my-app runs in system-my\x2dapp.slice, which journalctl must be
// asked for by that name.
func TestCommandMatchesTheSliceSystemdNamesForTheApp(t *testing.T) {
	c := service.DefaultsFor("my-app")
	if got := Command(c, Options{}); !strings.Contains(got, `_SYSTEMD_SLICE=system-my\x2dapp.slice`) {
		t.Errorf("Command = %s, want the escaped slice name", got)
	}
}

func TestJobOptionShowsThatJobsUnitOnlyAndRefusesABadName(t *testing.T) {
	c := service.DefaultsFor("shop")
	got := Command(c, Options{Job: "prune-sessions"})
	if !strings.Contains(got, "_SYSTEMD_UNIT=shop-job-prune-sessions.service") || strings.Contains(got, "_SYSTEMD_SLICE") {
		t.Errorf("Command = %s, want only the job's unit", got)
	}
	err := Options{Job: "x;rm"}.Check()
	if err == nil || !strings.Contains(err.Error(), `logs -job="x;rm": not a job name`) {
		t.Errorf("Check: %v", err)
	}
}
