package appexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/appexec/appexectest"
	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

const pepper = "sandbox-pepper-exec-0123456789"

func TestCommandRunsTheCurrentBinaryAsTheServiceWithEveryHardeningProperty(t *testing.T) {
	c := service.DefaultConfig()
	cmd := Command(c, "migrate", "status")
	for _, want := range append(service.Hardening(c), "--uid=app", "--pipe", "--wait", "EnvironmentFile=/etc/app/app.env", service.CurrentBind(c), "/home/admin/current/app migrate status") {
		if !strings.Contains(cmd, remote.Quote(want)) && !strings.Contains(cmd, want) {
			t.Errorf("command lacks %s:\n%s", want, cmd)
		}
	}
}

func TestExecsUnitIsTheServicesAndStdinLeadsWithTheArguments(t *testing.T) {
	c := service.DefaultConfig()
	spec := Spec(c)
	props := strings.Join(spec.Properties, "\n") + "\n"
	for _, want := range append(service.Hardening(c), "User=app", "Group=app", "EnvironmentFile=/etc/app/app.env", service.CurrentBind(c)) {
		if !strings.Contains(props, want+"\n") {
			t.Errorf("exec's unit lacks %s:\n%s", want, props)
		}
	}
	if spec.Description != "app exec" {
		t.Errorf("description %q", spec.Description)
	}
	in, err := Stdin(c, []string{"admin", "", "a b$"}, strings.NewReader("password\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(in)
	lines := strings.SplitN(string(b), "\n", 3)
	var outer, inner helper.Request
	if len(lines) != 3 || json.Unmarshal([]byte(lines[0]), &outer) != nil || json.Unmarshal([]byte(lines[1]), &inner) != nil {
		t.Fatalf("stdin %q: want two request lines, then stdin", b)
	}
	if outer.Step != "exec" || strings.Contains(string(outer.Args), "a b$") {
		t.Errorf("exec's own request %s: want the unit only", lines[0])
	}
	var app helper.ExecAppArgs
	if err := json.Unmarshal(inner.Args, &app); err != nil || inner.Step != "exec-app" || app.Binary != c.Binary() || strings.Join(app.Args, "|") != "admin||a b$" {
		t.Errorf("exec-app's request %s: want the binary and the arguments as given", lines[1])
	}
	if lines[2] != "password\n" {
		t.Errorf("then %q, want stdin", lines[2])
	}
}

func TestNoArgsIsOneLineSayingWhatToRun(t *testing.T) {
	err := Run(context.Background(), nil, service.DefaultConfig(), nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "exec -- help") {
		t.Errorf("got %v", err)
	}
}

// TestExecOnTheSandbox installs the real app as the current release, then
// runs its commands through exec: output, stdin and exit status.
func TestExecOnTheSandbox(t *testing.T) {
	ctx := context.Background()
	a := apptest.Installed(t, sandboxtest.Get(t), service.DefaultConfig(), apptest.Options{Binary: apptest.Build(t, "vexec", "e0e0e0e0"),
		Env: []string{"PASSWORD_PEPPER=" + pepper, "LOG_FORMAT=json"}})
	cl, c := a.Client, a.Service
	run36 := strconv.FormatInt(time.Now().UnixNano(), 36)

	run := func(stdin string, args ...string) (string, string, error) {
		var o, e bytes.Buffer
		err := Run(ctx, cl, c, args, strings.NewReader(stdin), &o, &e)
		return o.String(), e.String(), err
	}

	t.Run("output comes back", func(t *testing.T) {
		o, e, err := run("", "version")
		if err != nil || !strings.Contains(o, "version vexec\ncommit e0e0e0e0\n") {
			t.Errorf("exec -- version: %v\nstdout %q\nstderr %q", err, o, e)
		}
	})
	t.Run("the service's env file is read", func(t *testing.T) {
		if o, e, err := run("", "migrate", "up"); err != nil {
			t.Fatalf("exec -- migrate up: %v\n%s%s", err, o, e)
		}
		o, e, err := run("", "migrate", "status")
		if err != nil || !strings.Contains(o, "applied") {
			t.Errorf("exec -- migrate status: %v\nstdout %q\nstderr %q", err, o, e)
		}
	})
	t.Run("stdin is forwarded", func(t *testing.T) {
		email := "exec-" + run36 + "@example.com"
		o, e, err := run("correct horse battery staple\n", "admin", "create", "-email", email)
		if err != nil || !strings.Contains(o, "created admin "+email) {
			t.Errorf("exec -- admin create: %v\nstdout %q\nstderr %q", err, o, e)
		}
	})
	t.Run("the exit status is the command's, the arguments as given", func(t *testing.T) {
		o, e, err := run("", "no-such-command-$HOME-$$")
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Status != 1 || !strings.Contains(o+e, `unknown command "no-such-command-$HOME-$$"`) {
			t.Errorf("exec -- no-such-command: %v (%T)\nstdout %q\nstderr %q", err, err, o, e)
		}
	})
	t.Run("a binary built before ArgsEnv gets its arguments in argv, as it always did", func(t *testing.T) {
		// A stand-in for an older release of the app: it reads only argv,
		// and holds no ArgsEnv (a pattern matches the variable).
		sb := sandboxtest.Get(t)
		cur := strings.TrimSpace(sandboxtest.Run(t, sb, "readlink", c.CurrentLink()))
		rel := "releases/old-" + run36
		pattern := "^" + ArgsEnv[:1] + "[" + ArgsEnv[1:2] + "]" + ArgsEnv[2:] + "="
		script := "#!/bin/sh\nprintf '[%s]' \"$@\"; echo \" env=$(env | grep '" + pattern + "' || echo unset)\"\n"
		sandboxtest.Run(t, sb, "sh", "-c", "mkdir -p \"$1\" && printf %s \"$2\" > \"$1/app\" && chmod 755 \"$1/app\" && ln -sfn \"$3\" \"$4\"",
			"-", c.DeployPath+"/"+rel, script, rel, c.CurrentLink())
		defer sandboxtest.Run(t, sb, "sh", "-c", "ln -sfn \"$1\" \"$2\" && rm -rf \"$3\"", "-", cur, c.CurrentLink(), c.DeployPath+"/"+rel)
		o, e, err := run("", "a b", "$x", "")
		if err != nil || o != "[a b][$x][] env=unset\n" {
			t.Errorf("exec on an older binary: %v\nstdout %q\nstderr %q", err, o, e)
		}
	})
	t.Run("item 5: the arguments show in no process list, unit property or journal line", func(t *testing.T) {
		// The attack: a local user on the server reads ps, `systemctl show`
		// or the journal (sudo's COMMAND= line, systemd's "Started ...").
		sb := sandboxtest.Get(t)
		marker := "argv-marker-exec-" + run36
		procs := sandboxtest.WatchArgv(t, sb, marker)
		units := appexectest.WatchUnits(t, sb)
		// The password arrives late: admin create waits for it meanwhile,
		// long enough for both watches to see every process and unit.
		in, feed := io.Pipe()
		go func() {
			time.Sleep(1500 * time.Millisecond)
			io.WriteString(feed, "correct horse battery staple\n")
			feed.Close()
		}()
		var o, e bytes.Buffer
		err := Run(ctx, cl, c, []string{"admin", "create", "-email", marker + "@example.com"}, in, &o, &e)
		if err != nil || !strings.Contains(o.String(), "created admin "+marker+"@example.com") {
			t.Fatalf("exec -- admin create: %v\nstdout %q\nstderr %q", err, o.String(), e.String())
		}
		if hits := procs(); len(hits) > 0 {
			t.Errorf("the arguments were in the argv of %v on the server", hits)
		}
		shown := units()
		if !strings.Contains(shown, "Description=") {
			t.Fatal("the watch never saw exec's transient unit")
		}
		if strings.Contains(shown, marker) {
			t.Errorf("the arguments were in the transient unit's properties:\n%s", appexectest.LinesWith(shown, marker))
		}
		if journal := sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-o", "verbose"); strings.Contains(journal, marker) {
			t.Errorf("the arguments reached the server's journal:\n%s", appexectest.LinesWith(journal, marker))
		}
	})
	journal := sandboxtest.Run(t, sandboxtest.Get(t), "journalctl", "--no-pager", "-o", "cat")
	if strings.Contains(journal, pepper) || strings.Contains(journal, "correct horse") {
		t.Error("a secret reached the server's journal")
	}
}
