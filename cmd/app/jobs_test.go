package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

// TestThePruneJobDeletesExpiredSessionsOnly: the job that replaced the web
// process's pruner, run as its timer runs it (`app job prune-sessions`).
func TestThePruneJobDeletesExpiredSessionsOnly(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `WITH u AS (INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id)
		INSERT INTO sessions (token_hash, user_id, expires_at) SELECT 'old'::bytea, id, now() - interval '1 minute' FROM u
		UNION ALL SELECT 'live'::bytea, id, now() + interval '1 hour' FROM u`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := map[string]string{"DATABASE_URL": url}
	if err := run(ctx, []string{"job", "prune-sessions"}, func(k string) string { return env[k] }, nil, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var left string
	if err := db.QueryRow(ctx, `SELECT string_agg(convert_from(token_hash, 'UTF8'), ',') FROM sessions`).Scan(&left); err != nil || left != "live" {
		t.Errorf("sessions left: %q %v\n%s", left, err, out.String())
	}
}

// TestTheLoginWatchWorkerDrains: it stops on the signal (its context) and
// returns at once.
func TestTheLoginWatchWorkerDrains(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker", "login-watch"}, func(k string) string { return env[k] }, nil, &out, &out)
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "worker stopped") {
			t.Errorf("%v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop within 10 s of its signal")
	}
}
