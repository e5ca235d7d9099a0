package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

// A server where nothing was deployed yet has no deploy.log: status says
// so with an empty log, not an error; once the file is there, its last
// lines show, the newest last.
func TestStatusShowsAnEmptyDeployLogBeforeTheFirstDeployThenItsLastLines(t *testing.T) {
	srv := sshdtest.Start(t)
	dp := t.TempDir()
	status := func() HostStatus {
		t.Helper()
		var js bytes.Buffer
		if err := StatusJSON(context.Background(), testOptions([]string{srv.Alias}, srv.ConfigPath, dp, &js), 2); err != nil {
			t.Fatalf("status -json: %v\n%s", err, js.String())
		}
		var r StatusReport
		if err := json.Unmarshal(js.Bytes(), &r); err != nil || len(r.Hosts) != 1 {
			t.Fatalf("status -json: %v\n%s", err, js.String())
		}
		if strings.Contains(js.String(), `"deploy_log": null`) {
			t.Errorf("status -json: deploy_log is null, not a list:\n%s", js.String())
		}
		return r.Hosts[0]
	}
	if h := status(); len(h.DeployLog) != 0 {
		t.Errorf("no deploy.log: status shows %q, want no lines", h.DeployLog)
	}
	if err := os.WriteFile(filepath.Join(dp, "deploy.log"), []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := status(); strings.Join(h.DeployLog, ",") != "two,three" {
		t.Errorf("deploy.log of three lines, status of 2: %q, want [two three]", h.DeployLog)
	}
}
