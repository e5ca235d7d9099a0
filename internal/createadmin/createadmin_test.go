package createadmin

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

const (
	pw     = "correct horse battery staple"
	pepper = "sandbox-pepper-0123456789"
)

func TestCommandCarriesNeitherTheEmailNorThePassword(t *testing.T) {
	c := service.DefaultConfig()
	cmd := Command(c)
	for _, want := range []string{"--uid=app", "EnvironmentFile=/etc/app/app.env", "/home/admin/current/app"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command lacks %s:\n%s", want, cmd)
		}
	}
	if strings.Contains(cmd, "ada@example.com") || strings.Contains(cmd, "-email") {
		t.Errorf("the command line names the admin:\n%s", cmd)
	}
	in, err := io.ReadAll(Stdin("ada@example.com", true, pw))
	if err != nil {
		t.Fatal(err)
	}
	args, rest, _ := strings.Cut(string(in), "\n")
	if rest != pw+"\n" || !strings.Contains(args, hex.EncodeToString([]byte("ada@example.com"))) || !strings.Contains(args, hex.EncodeToString([]byte("-reset-password"))) {
		t.Errorf("stdin %q: want the hex-encoded arguments' line, then the password", in)
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
	cmd := Command(c)
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
