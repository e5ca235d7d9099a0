package service

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/notify"
	"github.com/slipway-dev/slipway/internal/remote/remotetest"
)

// A unit that fails and names the alert template in OnFailure= reaches the
// webhook from the server itself, with the URL provision copied there:
// what jobs and scheduled backups rely on when nobody is deploying.
func TestAFailingUnitAlertsFromTheServerWithTheProvisionedURL(t *testing.T) {
	_, r, c, _ := onSandbox(t, "alerts", "/srv/alerts")
	events := make(chan notify.Event, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev notify.Event
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		events <- ev
	}))
	defer srv.Close()
	url := srv.URL + "/hook/secret-token"

	var out bytes.Buffer
	if _, err := ProvisionWith(context.Background(), r, c, ProvisionOptions{ExternalDatabase: true, NotifyURL: url}, &out); err != nil {
		t.Fatalf("provision: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "changed: server settings: DEPLOY_NOTIFY_URL ("+srv.URL+")") || strings.Contains(out.String(), "secret-token") {
		t.Errorf("provision's output:\n%s", out.String())
	}
	settings := helper.SettingsFile(c.AppName)
	if got := runRoot(t, r, "stat -c '%U:%G %a' "+settings); got != "root:root 600" {
		t.Errorf("%s: %s, want root:root 600", settings, got)
	}
	out.Reset()
	if _, err := ProvisionWith(context.Background(), r, c, ProvisionOptions{ExternalDatabase: true, NotifyURL: url}, &out); err != nil || !strings.Contains(out.String(), "ok: server settings: DEPLOY_NOTIFY_URL") {
		t.Errorf("second provision: %v\n%s", err, out.String())
	}

	// What a job's unit says; its failure is systemd's to notice.
	job := c.AppName + "-job-nightly.service"
	unit := "[Unit]\nOnFailure=" + helper.OnFailure(c.AppName) + "\n[Service]\nType=oneshot\nExecStart=/bin/false\n"
	if out, err := remotetest.RootShell(context.Background(), r, "cat > /etc/systemd/system/"+job+" && systemctl daemon-reload", strings.NewReader(unit)); err != nil {
		t.Fatalf("install %s: %v\n%s", job, err, out)
	}
	t.Cleanup(func() {
		runRoot(t, r, "rm -f /etc/systemd/system/"+job+" && systemctl daemon-reload && systemctl reset-failed")
	})
	runRoot(t, r, "systemctl start "+job+" || true")
	select {
	case ev := <-events:
		if ev.Kind != "job" || ev.Outcome != "failed" || ev.Cause != job+" failed (exit-code)" || ev.Host == "" {
			t.Errorf("event %+v", ev)
		}
		t.Logf("alert: %s", ev.Text)
	case <-time.After(30 * time.Second):
		t.Fatalf("no alert within 30 s; the alert unit's journal:\n%s", runRoot(t, r, "journalctl --no-pager -n 20 -u '"+c.AppName+"-notify@*'"))
	}
}
