package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

// TestReadyzShowsNoDatabaseErrorText performs the /readyz half of item 11
// of issue 25: with the database refusing (the migrations' version table
// gone, then no connections allowed at all), /readyz says 503 with a short
// reason of its own, never PostgreSQL's or pgx's error text, which names
// tables, databases and hosts; the app's log has the details.
func TestReadyzShowsNoDatabaseErrorText(t *testing.T) {
	dbURL := withPassword(t, pgtest.URL(t))
	p := startApp(t, "DATABASE_URL="+dbURL)
	p.waitReady(t, 30*time.Second)
	u, _ := url.Parse(dbURL)
	dbName := strings.TrimPrefix(u.Path, "/")
	super := pgtest.SQLDB(t, pgtest.WithDatabase(pgtest.AdminURL(t), dbName))
	public := map[string]bool{"database unreachable": true, "migrations pending": true, "database error": true}
	check := func(fault string) {
		t.Helper()
		code, body := get(t, "http://"+p.addr+"/readyz")
		reason := fmt.Sprint(body["reason"])
		if code != http.StatusServiceUnavailable || !public[reason] {
			t.Errorf("/readyz with %s: %d %v, want 503 with one of the app's own reasons %v", fault, code, body, public)
		}
		for _, leak := range []string{"SQLSTATE", "goose_db_version", dbName, "ERROR", "relation", "failed"} {
			if strings.Contains(reason, leak) {
				t.Errorf("/readyz with %s shows database error text (%q): %q", fault, leak, reason)
			}
		}
	}
	if _, err := super.Exec(`ALTER TABLE goose_db_version RENAME TO goose_db_version_gone`); err != nil {
		t.Fatal(err)
	}
	check("the version table gone")
	// The log reaches the test through a pipe: give it a moment.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), "goose_db_version"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the app's log lacks the database's error:\n%s", p.stderr.String())
			break
		}
	}
	if _, err := super.Exec(`ALTER TABLE goose_db_version_gone RENAME TO goose_db_version`); err != nil {
		t.Fatal(err)
	}
	super.Close()
	admin := pgtest.SQLDB(t, pgtest.AdminURL(t))
	if _, err := admin.Exec(`ALTER DATABASE "` + dbName + `" ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
		t.Fatal(err)
	}
	check("the database refusing connections")
	// The database is dropped after the test: let it take connections again.
	_, _ = admin.Exec(`ALTER DATABASE "` + dbName + `" ALLOW_CONNECTIONS true`)
}
