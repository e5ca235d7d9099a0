package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// Provision of two hosts whose second is bad changes nothing on the first:
// every host is resolved, reached, host-key checked and guard-checked
// before the first change. The first host is a loopback sshd, so "the
// server" is this machine: its service user, env folder, units and deploy
// path must not appear.
func TestProvisionChecksEveryHostBeforeChangingAny(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, srv *sshdtest.Server) (alias string)
		want  []string
		// loggedIn: the first host was reached and checked; an alias that
		// doesn't resolve is caught before any login.
		loggedIn bool
	}{
		{"unknown alias", func(t *testing.T, srv *sshdtest.Server) string { return "no-such-alias" },
			[]string{"provision no-such-alias:", "unknown ssh alias"}, false},
		{"unreachable", func(t *testing.T, srv *sshdtest.Server) string {
			port, err := freeport.Pick()
			if err != nil {
				t.Fatal(err)
			}
			srv.AddAlias(t, "gone", port) // nothing listens there
			return "gone"
		}, []string{"provision gone:", "refused"}, true},
		{"unknown host key", func(t *testing.T, srv *sshdtest.Server) string {
			other := sshdtest.Start(t)
			f, err := os.OpenFile(srv.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(remote.HostEntry("stranger", other.Port, other.User, other.KeyPath, os.DevNull)); err != nil {
				t.Fatal(err)
			}
			return "stranger"
		}, []string{"provision stranger:", "unknown host"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := sshdtest.Start(t)
			second := tc.setup(t, srv)
			svc := untouchedService(t)
			var out bytes.Buffer
			o := testOptions([]string{srv.Alias, second}, srv.ConfigPath, svc.DeployPath, &out)
			o.Service = svc
			err := Provision(context.Background(), o, ProvisionOptions{Service: service.ProvisionOptions{ExternalDatabase: true}})
			if err == nil {
				t.Fatalf("provision succeeded:\n%s", out.String())
			}
			for _, w := range append(tc.want, "nothing changed on any host") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "provision "+srv.Alias+":") {
				t.Errorf("the first host failed its checks, so this proves nothing: %v", err)
			}
			if got := strings.Contains(srv.Log(), "Accepted publickey"); got != tc.loggedIn {
				t.Errorf("logged in to the first host: %v, want %v", got, tc.loggedIn)
			}
			if s := out.String(); s != "" {
				t.Errorf("provision printed steps:\n%s", s)
			}
			assertUntouched(t, svc)
		})
	}
}

// untouchedService is an app whose names exist nowhere on this machine;
// should provision run here after all, the cleanup removes what it made.
func untouchedService(t *testing.T) service.Config {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	svc := service.DefaultsFor("slwprov" + hex.EncodeToString(b))
	svc.DeployPath = filepath.Join(t.TempDir(), "srv")
	t.Cleanup(func() {
		os.RemoveAll(svc.EnvDir())
		units, _ := filepath.Glob(filepath.Join(service.UnitDir, svc.AppName+"*"))
		for _, u := range units {
			os.RemoveAll(u)
		}
		if _, err := user.Lookup(svc.ServiceUser); err == nil {
			_ = exec.Command("userdel", svc.ServiceUser).Run()
		}
	})
	return svc
}

// assertUntouched fails the test for anything provision makes for svc.
func assertUntouched(t *testing.T, svc service.Config) {
	t.Helper()
	for _, p := range []string{svc.DeployPath, svc.EnvDir()} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: provision changed the first host", p)
		}
	}
	if units, _ := filepath.Glob(filepath.Join(service.UnitDir, svc.AppName+"*")); len(units) > 0 {
		t.Errorf("units written: %v", units)
	}
	if _, err := user.Lookup(svc.ServiceUser); err == nil {
		t.Errorf("service user %s created", svc.ServiceUser)
	}
}
