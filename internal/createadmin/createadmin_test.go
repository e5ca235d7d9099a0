package createadmin

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

const (
	pw     = "correct horse battery staple"
	pepper = "sandbox-pepper-0123456789"
)

func TestOnlyStdinCarriesTheEmailAndThePasswordAfterTheUnit(t *testing.T) {
	c := service.DefaultConfig()
	in, err := Stdin(c, "ada@example.com", true, pw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(in)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) != 3 {
		t.Fatalf("stdin %q: want exec's request, exec-app's, then the password", b)
	}
	if strings.Contains(lines[0], "ada@example.com") || !strings.Contains(lines[0], `"User=app"`) || !strings.Contains(lines[0], "EnvironmentFile=/etc/app/app.env") {
		t.Errorf("exec's request (the unit) %s", lines[0])
	}
	if !strings.Contains(lines[1], `"ada@example.com"`) || !strings.Contains(lines[1], `"-reset-password"`) || !strings.Contains(lines[1], "/home/admin/current/app") {
		t.Errorf("exec-app's request %s: want the binary and the arguments", lines[1])
	}
	if lines[2] != pw+"\n" {
		t.Errorf("then %q, want the password", lines[2])
	}
}

func TestWeakPasswordRefusedBeforeConnecting(t *testing.T) {
	err := Run(context.Background(), nil, service.DefaultConfig(), Options{Email: "ada@example.com", Password: "short", Stdout: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "password too short") {
		t.Errorf("got %v", err)
	}
}

// TestCreateAdminOnTheSandbox provisions the sandbox, installs the real app
// binary and its env file as deploy would, then runs createAdmin twice over
// SSH.
func TestCreateAdminOnTheSandbox(t *testing.T) {
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	a := apptest.Installed(t, sb, service.DefaultConfig(), apptest.Options{Binary: apptest.Build(t, "", ""), Env: []string{"PASSWORD_PEPPER=" + pepper}})
	cl, c := a.Client, a.Service
	var out bytes.Buffer
	if err := Run(ctx, cl, c, Options{Email: "Ada@Example.com", Password: pw, Stdout: &out}); err != nil {
		t.Fatalf("createAdmin: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "created admin ada@example.com") {
		t.Errorf("first run printed %q", out.String())
	}
	out.Reset()
	if err := Run(ctx, cl, c, Options{Email: "ada@example.com", Password: "another fine passphrase", Stdout: &out}); err != nil {
		t.Fatalf("second createAdmin: %v", err)
	}
	if !strings.Contains(out.String(), "already exists: nothing changed") {
		t.Errorf("second run printed %q", out.String())
	}
	hash := sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-d", "app", "-Atc", "SELECT password_hash FROM users WHERE email = 'ada@example.com' AND is_admin")
	if !strings.HasPrefix(strings.TrimSpace(hash), "$argon2id$") {
		t.Errorf("stored hash %q", hash)
	}
	journal := sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-o", "cat")
	if strings.Contains(journal, pw) || strings.Contains(journal, pepper) {
		t.Error("the password or the pepper reached the server's journal")
	}
	if sudo := sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-o", "cat", "_COMM=sudo"); strings.Contains(sudo, "ada@example.com") || !strings.Contains(sudo, "COMMAND=") {
		t.Errorf("sudo's journal lines name the admin (or none was read):\n%s", sudo)
	}
	if strings.Contains(hash, pw) {
		t.Error("plain password stored")
	}
}

// TestCommandRunsWithTheServicesHardening: the transient unit gets every
// sandboxing property the service has (they come from one list in
// internal/service), so the admin command can do no more than the app.
func TestCommandRunsWithTheServicesHardening(t *testing.T) {
	c := service.DefaultConfig()
	unit := strings.Join(appexec.Spec(c).Properties, "\n") + "\n"
	props := service.Hardening(c)
	if len(props) < 20 {
		t.Fatalf("service.Hardening has %d properties: %v", len(props), props)
	}
	for _, p := range props {
		if !strings.Contains(unit, p+"\n") {
			t.Errorf("transient unit lacks %s:\n%s", p, unit)
		}
	}
	units, err := service.Units(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range props {
		if !strings.Contains(string(units[c.TemplateUnit()]), "\n"+p+"\n") {
			t.Errorf("the service unit lacks %s", p)
		}
	}
}
