package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway-dev/slipway/app"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/pgtest"
	"github.com/slipway-dev/slipway/internal/syncbuf"
	"github.com/slipway-dev/slipway/internal/version"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// shop is an app that isn't ours: its own migration, its own database URL
// variable, its own routes (one of which, /healthz, the runtime's wins over).
func shop(got *app.Deps) app.Config {
	return app.Config{
		Migrations: fstest.MapFS{"00001_greetings.sql": {Data: []byte(
			"-- +goose Up\nCREATE TABLE greetings (word text);\nINSERT INTO greetings VALUES ('hello');\n-- +goose Down\nDROP TABLE greetings;\n")}},
		DatabaseURL: "SHOP_DATABASE_URL",
		Handler: func(d app.Deps) (http.Handler, error) {
			*got = d
			mux := http.NewServeMux()
			mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
				var word string
				if err := d.Pool.QueryRow(r.Context(), "SELECT word FROM greetings").Scan(&word); err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprintf(w, "%s from %s\n", word, d.Getenv("SHOP_NAME"))
			})
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintln(w, "the shop's own healthz")
			})
			return mux, nil
		},
	}
}

func body(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTheAppsRoutesServeBesideTheRuntimesWhichWin(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SHOP_DATABASE_URL": pgtest.EmptyURL(t), "SHOP_NAME": "the shop",
		"ADDR": addr, "LOG_FORMAT": "json", "METRICS_ADDR": "off",
	}
	var deps app.Deps
	var log syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, shop(&deps), nil, func(k string) string { return env[k] }, nil, &log, &log)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before ready: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30 s\n%s", log.String())
		}
	}
	if code, b := body(t, "http://"+addr+"/"); code != 200 || b != "hello from the shop\n" {
		t.Errorf("GET / (the app's, on its migrated table): %d %q", code, b)
	}
	if code, b := body(t, "http://"+addr+"/healthz"); code != 200 || !strings.Contains(b, `"status":"ok"`) {
		t.Errorf("GET /healthz: %d %q, want the runtime's", code, b)
	}
	code, b := body(t, "http://"+addr+"/version")
	var v map[string]string
	if err := json.Unmarshal([]byte(b), &v); code != 200 || err != nil || v["version"] != deps.Version || v["commit"] != deps.Commit {
		t.Errorf("GET /version: %d %q, want the stamp Deps had (%s, %s)", code, b, deps.Version, deps.Commit)
	}
	if code, _ := body(t, "http://"+addr+"/admin/login"); code != 404 {
		t.Errorf("GET /admin/login without Config.Admin: %d, want 404", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("Run still serving 40 s after cancel")
	}
	if !strings.Contains(log.String(), `"msg":"stopped"`) {
		t.Errorf("no drain in the log:\n%s", log.String())
	}
}

func TestWithoutAdminThereIsNoAdminCommand(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"SHOP_DATABASE_URL": "postgres://shop@localhost/shop"}
	err := app.Run(context.Background(), shop(new(app.Deps)), []string{"admin", "create", "-email", "a@example.com"},
		func(k string) string { return env[k] }, strings.NewReader("pw\n"), &out, &out)
	if err == nil || err.Error() != `unknown command "admin": run `+"`app help`"+` for the list` {
		t.Errorf("admin create without Config.Admin: %v, want unknown command", err)
	}
}

func TestAMissingDatabaseURLIsNamedByTheAppsVariable(t *testing.T) {
	var out strings.Builder
	err := app.Run(context.Background(), shop(new(app.Deps)), []string{"migrate", "status"},
		func(k string) string { return map[string]string{"DATABASE_URL": "postgres://x@localhost/x"}[k] }, nil, &out, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "SHOP_DATABASE_URL is not set") {
		t.Errorf("migrate status without SHOP_DATABASE_URL (DATABASE_URL set): %v", err)
	}
	err = app.Run(context.Background(), shop(new(app.Deps)), []string{"migrate", "status"},
		func(k string) string { return map[string]string{"SHOP_DATABASE_URL": "postgres://shop:pw@[::1"}[k] }, nil, &out, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "SHOP_DATABASE_URL is not a valid PostgreSQL URL") {
		t.Errorf("migrate status with a SHOP_DATABASE_URL that does not parse: %v", err)
	}
}

func TestTheStampedDatabaseURLVariableIsTheDefault(t *testing.T) {
	// buildApp stamps targets.Project.DatabaseURL: main needn't name it.
	defer func(was string) { version.DatabaseURL = was }(version.DatabaseURL)
	version.DatabaseURL = "SHOP_DATABASE_URL"
	c := shop(new(app.Deps))
	c.DatabaseURL = ""
	var out strings.Builder
	err := app.Run(context.Background(), c, []string{"migrate", "status"},
		func(k string) string { return map[string]string{"DATABASE_URL": "postgres://x@localhost/x"}[k] }, nil, &out, &out)
	if err == nil || !strings.HasPrefix(err.Error(), "SHOP_DATABASE_URL is not set") {
		t.Errorf("migrate status with the stamped name unset: %v", err)
	}
	c.DatabaseURL = "OWN_URL"
	if err := app.Run(context.Background(), c, []string{"config", "check"}, func(string) string { return "" }, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "OWN_URL") {
		t.Errorf("config check with Config.DatabaseURL set: %v, want it to win over the stamp", err)
	}
}
