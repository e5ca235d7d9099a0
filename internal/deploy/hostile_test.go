package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

// TestStatusAndLockEscapeAHostileServersText puts terminal escapes in every
// file status and the lock read back from the server: deploy.log, a
// release's version, the lock holder. None reaches the operator's terminal.
func TestStatusAndLockEscapeAHostileServersText(t *testing.T) {
	srv := sshdtest.Start(t)
	dp := t.TempDir()
	esc := "\x1b]0;owned\x07\x1b[2J\x1b[31m"
	id := "20260101T000000Z-0123456789ab"
	rel := filepath.Join(dp, "releases", id)
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		filepath.Join(rel, "app.sha256"):       strings.Repeat("a", 64) + "  app\n",
		filepath.Join(rel, "app.version"):      "v1" + esc + " (commit c1" + esc + ")\n",
		filepath.Join(dp, "deploy.log"):        "2026-01-01T00:00:00Z deploy " + esc + "\n",
		filepath.Join(dp, ".deploy.lock"):      "",
		filepath.Join(dp, ".deploy.lock.info"): "mallory" + esc + " since then\n",
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("releases/"+id, filepath.Join(dp, "current")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := testOptions([]string{srv.Alias}, srv.ConfigPath, dp, &out)
	// The "app" answers with escapes too: in JSON (\u001b decodes to ESC)
	// and raw in /readyz's body.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			fmt.Fprint(w, `{"version":"v9\u001b[2J","commit":"c9\u001b]0;owned\u0007","go_version":"go\u009b1m"}`)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "not ready"+esc)
	}))
	defer app.Close()
	o.Service.ListenAddr = app.Listener.Addr().String()
	if err := Status(context.Background(), o, 10); err != nil {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	if strings.ContainsRune(out.String(), 0x1b) || strings.ContainsRune(out.String(), 0x07) {
		t.Errorf("status printed the server's escapes raw:\n%q", out.String())
	}
	if !strings.Contains(out.String(), `mallory\x1b]0;owned`) || !strings.Contains(out.String(), `v9\x1b[2J`) {
		t.Errorf("status does not show the escaped lock holder:\n%s", out.String())
	}

	// status -json: the same facts, the same escaping, for a program.
	var js bytes.Buffer
	o.Stdout = &js
	if err := StatusJSON(context.Background(), o, 10); err != nil {
		t.Fatalf("status -json: %v\n%s", err, js.String())
	}
	var r StatusReport
	if err := json.Unmarshal(js.Bytes(), &r); err != nil {
		t.Fatalf("status -json is not JSON: %v\n%s", err, js.String())
	}
	if len(r.Hosts) != 1 {
		t.Fatalf("status -json: %d hosts, want 1:\n%s", len(r.Hosts), js.String())
	}
	h := r.Hosts[0]
	if h.Host != srv.Alias || h.Current != id || !strings.Contains(h.Lock, `mallory\x1b]0;owned\x07\x1b[2J`) ||
		!h.Serving.Answering || h.Serving.Ready || !strings.HasPrefix(h.Serving.NotReady, "/readyz answered 503: not ready") ||
		h.Serving.Version.Version != `v9\x1b[2J` || len(h.Releases) != 1 || h.Releases[0].ID != id || !h.Releases[0].Current ||
		len(h.DeployLog) != 1 || !strings.Contains(h.DeployLog[0], "deploy ") {
		t.Errorf("status -json does not say what status says:\n%s", js.String())
	}
	if strings.ContainsRune(fmt.Sprintf("%+v", r), 0x1b) {
		t.Errorf("status -json carries the server's escapes raw (they decode to ESC):\n%s", js.String())
	}
	for _, field := range []string{`"host"`, `"current"`, `"current_version"`, `"serving"`, `"instances"`, `"previous"`, `"releases"`, `"lock"`, `"deploy_log"`, `"journal"`} {
		if !strings.Contains(js.String(), field+":") {
			t.Errorf("status -json lacks the documented field %s", field)
		}
	}

	// A holder that is still there: the refusal names it, escaped.
	a := dialServer(t, srv, srv.Alias, dp)
	hold, err := a.acquireLock(context.Background(), "x", "y", 0, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer hold.release(context.Background())
	// The holder writes its info just after saying "locked": replace it
	// only once it is there.
	for i := 0; ; i++ {
		if b, _ := os.ReadFile(filepath.Join(dp, ".deploy.lock.info")); strings.HasPrefix(string(b), "x y") {
			break
		}
		if i == 500 {
			t.Fatal("the lock holder never wrote its info")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(dp, ".deploy.lock.info"), []byte("mallory"+esc+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := dialServer(t, srv, srv.Alias, dp)
	_, err = b.acquireLock(context.Background(), "bob", "deploying", 0, func(string) {})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if strings.ContainsRune(err.Error(), 0x1b) || !strings.Contains(err.Error(), `mallory\x1b]0;owned`) {
		t.Errorf("lock refusal carries raw escapes: %q", err)
	}
}
