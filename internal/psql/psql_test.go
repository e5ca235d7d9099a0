package psql

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipway-dev/slipway/internal/appexec/appexectest"
	"github.com/slipway-dev/slipway/internal/helper"
	hclient "github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/syncbuf"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

func TestCommandRunsPsqlAsTheServiceWithoutTheSQL(t *testing.T) {
	c := service.DefaultConfig()
	bin := hclient.Binary{SHA256: strings.Repeat("a", 64)}
	pipe, err := Command(c, Options{SQL: "select 'marker-in-sql'"}, bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(service.Hardening(c), "--pipe", "--uid=app", "--description=app psql", "EnvironmentFile=/etc/app/app.env", hclient.Command(bin, "psql")) {
		if !strings.Contains(pipe, remote.Quote(want)) && !strings.Contains(pipe, want) {
			t.Errorf("command lacks %s:\n%s", want, pipe)
		}
	}
	req, _ := helper.ArgvRequest("psql", helper.PsqlArgs{EnvFile: "/etc/app/app.env", URLVar: "DATABASE_URL", Args: []string{"-v", "ON_ERROR_STOP=1"}})
	if !strings.HasSuffix(pipe, " "+req) {
		t.Errorf("the psql step's request is not its last word (DATABASE_URL, ON_ERROR_STOP):\n%s", pipe)
	}
	if strings.Contains(pipe, "marker-in-sql") || strings.Contains(pipe, hex.EncodeToString([]byte("marker-in-sql"))) || strings.Contains(pipe, " -c ") {
		t.Errorf("the SQL is in the command line:\n%s", pipe)
	}
	tty, _ := Command(c, Options{Terminal: true}, bin)
	if !strings.Contains(tty, " --pty ") || strings.Contains(tty, hex.EncodeToString([]byte("ON_ERROR_STOP"))) {
		t.Errorf("a terminal session: %s", tty)
	}
}

func TestScriptCarriesTheSQLVerbatimToGexec(t *testing.T) {
	for sql, want := range map[string]string{
		"select 1; select 2":             "SELECT $slipway$select 1; select 2$slipway$ \\gexec\n",
		"select $slipway$x$slipway$, :v": "SELECT $slipway1$select $slipway$x$slipway$, :v$slipway1$ \\gexec\n",
		`\dt`:                            "\\dt\n",
	} {
		if got := Script(sql); got != want {
			t.Errorf("Script(%q) = %q, want %q", sql, got, want)
		}
	}
}

// TestPsqlOnTheSandbox runs psql through the service's env file on the
// sandbox: one command, a script on stdin, a terminal session, and the
// database password in no process's arguments meanwhile, nor the journal.
func TestPsqlOnTheSandbox(t *testing.T) {
	ctx := context.Background()
	a := apptest.Installed(t, sandboxtest.Get(t), service.DefaultConfig(), apptest.Options{Binary: apptest.Build(t, "vpsql", "p0p0p0p0"),
		Env: []string{"PASSWORD_PEPPER=sandbox-pepper-psql-0123456789"}})
	cl, c, dbURL := a.Client, a.Service, a.DatabaseURL
	dbPassword := strings.TrimPrefix(strings.SplitN(dbURL, "@", 2)[0], "postgres://app:")
	watch := sandboxtest.WatchArgv(t, a.Sandbox, dbPassword, "sandbox-pepper-psql-0123456789")

	t.Run("-c runs one command as the app's role", func(t *testing.T) {
		var out, errw bytes.Buffer
		err := Run(ctx, cl, c, Options{SQL: "select current_user || '@' || current_database() as who, $$dollar$$ as d, pg_sleep(0.3)"}, nil, &out, &errw)
		if err != nil || !strings.Contains(out.String(), "app@app") || !strings.Contains(out.String(), "dollar") {
			t.Errorf("psql -c: %v\nstdout %s\nstderr %s", err, out.String(), errw.String())
		}
	})
	t.Run("-c: an error is psql's exit status", func(t *testing.T) {
		var out, errw bytes.Buffer
		err := Run(ctx, cl, c, Options{SQL: "select no_such_column"}, nil, &out, &errw)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != 1 || !strings.Contains(errw.String(), `column "no_such_column" does not exist`) {
			t.Errorf("psql -c with an error: %v (%T)\nstderr %s", err, err, errw.String())
		}
	})
	t.Run("-c keeps -c's meaning: one transaction, every result, psql's words literal", func(t *testing.T) {
		var out, errw bytes.Buffer
		err := Run(ctx, cl, c, Options{SQL: "create table psql_atomic (x int); select no_such_column"}, nil, &out, &errw)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != 1 {
			t.Errorf("psql -c with an error: %v\nstderr %s", err, errw.String())
		}
		out.Reset()
		err = Run(ctx, cl, c, Options{SQL: "select to_regclass('psql_atomic') is null as rolled_back; select ':nope' as v, $$\\dt$$ as b"}, nil, &out, &errw)
		for _, want := range []string{"rolled_back", " t\n", ":nope", `\dt`} {
			if err != nil || !strings.Contains(out.String(), want) {
				t.Errorf("psql -c: %v, stdout lacks %q:\n%s%s", err, want, out.String(), errw.String())
			}
		}
		out.Reset()
		if err := Run(ctx, cl, c, Options{SQL: `\conninfo`}, nil, &out, &errw); err != nil || !strings.Contains(out.String(), `database "app" as user "app"`) {
			t.Errorf("psql -c with a backslash command: %v\n%s%s", err, out.String(), errw.String())
		}
	})
	t.Run("a script on stdin stops at its first error", func(t *testing.T) {
		var out, errw bytes.Buffer
		script := "select 'first' as step;\nselect no_such_column;\nselect 'never' as step;\n"
		err := Run(ctx, cl, c, Options{}, strings.NewReader(script), &out, &errw)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != 3 || !strings.Contains(out.String(), "first") || strings.Contains(out.String(), "never") {
			t.Errorf("psql < script: %v\nstdout %s\nstderr %s", err, out.String(), errw.String())
		}
	})
	t.Run("item 5: -c's SQL shows in no process list, unit property or journal line", func(t *testing.T) {
		// The attack: a local user on the server reads ps, `systemctl show`
		// or the journal (sudo's COMMAND= line, systemd's "Started ...").
		sb := sandboxtest.Get(t)
		marker := "argv-marker-psql-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		procs := sandboxtest.WatchArgv(t, a.Sandbox, marker)
		units := appexectest.WatchUnits(t, sb)
		var out, errw bytes.Buffer
		err := Run(ctx, cl, c, Options{SQL: "select 'seen' as m /* " + marker + " */, pg_sleep(1.5)"}, nil, &out, &errw)
		if err != nil || !strings.Contains(out.String(), "seen") {
			t.Fatalf("psql -c: %v\nstdout %s\nstderr %s", err, out.String(), errw.String())
		}
		if hits := procs(); len(hits) > 0 {
			t.Errorf("the SQL was in the argv of %v on the server", hits)
		}
		shown := units()
		if !strings.Contains(shown, "Description=") {
			t.Fatal("the watch never saw psql's transient unit")
		}
		if strings.Contains(shown, marker) {
			t.Errorf("the SQL was in the transient unit's properties:\n%s", appexectest.LinesWith(shown, marker))
		}
		if journal := sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-o", "verbose"); strings.Contains(journal, marker) {
			t.Errorf("the SQL reached the server's journal:\n%s", appexectest.LinesWith(journal, marker))
		}
	})
	t.Run("on a terminal: an interactive session, Ctrl-C and resizing", func(t *testing.T) {
		ptm, pts := openPTY(t)
		var screen syncbuf.Buffer
		go func() {
			b := make([]byte, 4096)
			for {
				n, err := ptm.Read(b)
				screen.Write(b[:n])
				if err != nil {
					return
				}
			}
		}()
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cl, c, Options{Terminal: true}, pts, pts, nil) }()
		waitFor := func(s string) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(screen.String(), s); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the terminal never showed %q:\n%s", s, screen.String())
				}
			}
		}
		waitFor("app=>")
		if _, err := ptm.WriteString("select 6*7 as answer, current_setting('application_name');\r"); err != nil {
			t.Fatal(err)
		}
		waitFor("42")
		// Ctrl-C cancels the running query, and the session goes on.
		if _, err := ptm.WriteString("select pg_sleep(60);\r"); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n := sandboxtest.Run(t, sandboxtest.Get(t), "runuser", "-u", "postgres", "--", "psql", "-Atc",
				"select count(*) from pg_stat_activity where query = 'select pg_sleep(60);'")
			if strings.TrimSpace(n) == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the query never ran:\n%s", screen.String())
			}
		}
		if _, err := ptm.WriteString("\x03"); err != nil {
			t.Fatal(err)
		}
		waitFor("canceling statement due to user request")
		// A resized terminal resizes the server's.
		if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 111}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Kill(os.Getpid(), unix.SIGWINCH); err != nil {
			t.Fatal(err)
		}
		// The new size travels on its own (a signal, an ssh request, sudo's and
		// systemd-run's relays): ask until the server's terminal has it.
		for i := 0; !strings.Contains(screen.String(), "33 111"); i++ {
			if i == 30 {
				t.Fatalf("the server's terminal was never resized:\n%s", screen.String())
			}
			if _, err := ptm.WriteString("\\! stty size\r"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		if _, err := ptm.WriteString("\\q\r"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the session ended with %v:\n%s", err, screen.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("\\q did not end the session:\n%s", screen.String())
		}
	})

	if hits := watch(); len(hits) > 0 {
		t.Errorf("a secret was in the arguments of %v on the server", hits)
	}
	journal := sandboxtest.Run(t, sandboxtest.Get(t), "journalctl", "--no-pager", "-o", "cat")
	if strings.Contains(journal, dbPassword) {
		t.Error("the database password reached the server's journal")
	}
	if out := sandboxtest.Run(t, sandboxtest.Get(t), "sh", "-c", "find / -xdev -name '.psql_history*' 2>/dev/null; ls /tmp | grep -c slipway-psql || true"); strings.TrimSpace(out) != "0" {
		t.Errorf("a psql history or service file was left on the server:\n%s", out)
	}
}

// openPTY is a pseudo-terminal pair of this machine, 80x24: what the user's
// terminal is to mage.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}
