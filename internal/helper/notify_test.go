package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/notify"
)

const settingsPath = "/etc/app/slipway.env"

func TestSettingsSyncWritesTheURLRootOnlyOnceAndNeverPrintsIt(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	url := "https://hooks.example.com/services/T000/B000/secret-token"
	out, rc := runStep(t, e, "settings-sync", SettingsArgs{App: "app", NotifyURL: url})
	if rc != 0 || !strings.Contains(out, "changed: server settings: DEPLOY_NOTIFY_URL (https://hooks.example.com) written to "+settingsPath) {
		t.Fatalf("first sync: rc %d, %q", rc, out)
	}
	if strings.Contains(out, "secret-token") {
		t.Errorf("the webhook's path was printed: %q", out)
	}
	fi, err := os.Stat(e.Path(settingsPath))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("settings file: %v, mode %v, want 0600", err, fi)
	}
	f, err := readSettings(&e, settingsPath)
	if got, _ := f.Lookup(NotifySetting); err != nil || got != url {
		t.Fatalf("settings file holds %q (%v), want the URL", got, err)
	}
	out, rc = runStep(t, e, "settings-sync", SettingsArgs{App: "app", NotifyURL: url})
	if rc != 0 || !strings.HasPrefix(out, "ok: server settings: DEPLOY_NOTIFY_URL") || !strings.HasSuffix(out, "result ok unchanged\n") {
		t.Errorf("second sync: rc %d, %q", rc, out)
	}
	// A deploy from a machine without the setting leaves the server's.
	if out, rc = runStep(t, e, "settings-sync", SettingsArgs{App: "app"}); rc != 0 || out != "result ok unchanged\n" {
		t.Errorf("empty sync: rc %d, %q", rc, out)
	}
	if f, _ = readSettings(&e, settingsPath); func() string { v, _ := f.Lookup(NotifySetting); return v }() != url {
		t.Errorf("an empty sync changed the server's URL")
	}
}

func TestSettingsSyncRefusesAPlainHTTPURLAndWritesNothing(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	out, rc := runStep(t, e, "settings-sync", SettingsArgs{App: "app", NotifyURL: "http://hooks.example.com/x"})
	if rc == 0 || !strings.Contains(out, "DEPLOY_NOTIFY_URL uses http") || strings.Contains(out, "hooks.example.com/x") {
		t.Fatalf("rc %d, %q", rc, out)
	}
	if _, err := os.Stat(e.Path(settingsPath)); !os.IsNotExist(err) {
		t.Errorf("a refused URL left a settings file: %v", err)
	}
}

func TestNotifyFailurePostsTheUnitsKindAndResultWithoutItsLog(t *testing.T) {
	var got []notify.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notify.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		got = append(got, ev)
	}))
	defer srv.Close()
	sys := NewFakeSystemd()
	sys.Set("app-job-nightly.service", "Result", "timeout")
	e := Env{Root: t.TempDir(), Sys: sys}
	writeFiles(t, e, map[string]string{settingsPath: "DEPLOY_NOTIFY_URL=" + srv.URL + "/hook\n"})
	var out bytes.Buffer
	e.Out = &out
	if rc := run(context.Background(), &e, []string{"notify-failure", "app", "app-job-nightly.service"}, nil); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	if len(got) != 1 {
		t.Fatalf("%d events posted, want 1", len(got))
	}
	ev := got[0]
	if ev.Kind != "job" || ev.Outcome != "failed" || ev.Cause != "app-job-nightly.service failed (timeout)" || ev.Host == "" {
		t.Errorf("event %+v", ev)
	}
	if !strings.Contains(out.String(), "alert sent to "+srv.URL) || strings.Contains(out.String(), "/hook") {
		t.Errorf("output %q: want the receiver's scheme and host only", out.String())
	}
	for unit, kind := range map[string]string{
		"app-worker-mail@r1-1.service": "worker", "app-backup.service": "backup", "app-archive-check.service": "archive",
		"app-verify.service": "verify", "other-job-x.service": "unit", "app@r1.service": "unit",
	} {
		if k := notifyKind("app", unit); k != kind {
			t.Errorf("kind of %s: %q, want %q", unit, k, kind)
		}
	}
}

func TestNotifyFailureWithoutAURLSendsNothingAndSaysWhere(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	var out bytes.Buffer
	e.Out = &out
	if rc := run(context.Background(), &e, []string{"notify-failure", "app", "app-job-x.service"}, nil); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	if !strings.Contains(out.String(), "no DEPLOY_NOTIFY_URL in "+settingsPath) {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{{"app"}, {"App", "x.service"}, {"app", "../x.service"}, {"app", "-x.service"}, {"app", "nounit"}} {
		if rc := run(context.Background(), &e, append([]string{"notify-failure"}, args...), nil); rc == 0 {
			t.Errorf("notify-failure %q: exit 0", args)
		}
	}
}
