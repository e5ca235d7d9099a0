package createadmin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/appexec/appexectest"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

const (
	pw     = "correct horse battery staple"
	pepper = "sandbox-pepper-0123456789"
)

func TestCommandCarriesNoSecret(t *testing.T) {
	c := service.DefaultConfig()
	cmd := Command(c, "ada@example.com", false)
	for _, want := range []string{"--uid=app", "EnvironmentFile=/etc/app/app.env", "/home/admin/current/app admin create -email ada@example.com"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command lacks %s:\n%s", want, cmd)
		}
	}
	for _, nasty := range []string{"x'; rm -rf /; '@example.com", `a"$(id)"@b.c`, "a b\nc"} {
		got, err := exec.Command("sh", "-c", "printf %s "+remote.Quote(nasty)).Output()
		if err != nil || string(got) != nasty {
			t.Errorf("sh read %q back as %q (%v)", nasty, got, err)
		}
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
	cl, c := appexectest.Installed(t, "../..", "", "", "PASSWORD_PEPPER="+pepper)
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
	if strings.Contains(hash, pw) {
		t.Error("plain password stored")
	}
}

// TestCommandRunsWithTheServicesHardening: the transient unit gets every
// sandboxing property the service has (they come from one list in
// internal/service), so the admin command can do no more than the app.
func TestCommandRunsWithTheServicesHardening(t *testing.T) {
	c := service.DefaultConfig()
	cmd := Command(c, "ada@example.com", false)
	props := service.Hardening(c)
	if len(props) < 20 {
		t.Fatalf("service.Hardening has %d properties: %v", len(props), props)
	}
	for _, p := range props {
		if !strings.Contains(cmd, "-p "+remote.Quote(p)+" ") {
			t.Errorf("transient unit lacks %s:\n%s", p, cmd)
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
