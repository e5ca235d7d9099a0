package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

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
