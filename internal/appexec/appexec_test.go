package appexec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/appexec/appexectest"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
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
	cl, c := appexectest.Installed(t, "../..", "vexec", "e0e0e0e0", "PASSWORD_PEPPER="+pepper, "LOG_FORMAT=json")
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
	journal := sandboxtest.Run(t, sandboxtest.Get(t), "journalctl", "--no-pager", "-o", "cat")
	if strings.Contains(journal, pepper) || strings.Contains(journal, "correct horse") {
		t.Error("a secret reached the server's journal")
	}
}
