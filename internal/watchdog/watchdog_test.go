package watchdog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPingsOnlyWhileTheCheckPasses(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var mu sync.Mutex
	var pings []bool // health at each ping
	check := func(context.Context) error {
		if healthy.Load() {
			return nil
		}
		return errors.New("db down")
	}
	notify := func() error {
		mu.Lock()
		defer mu.Unlock()
		pings = append(pings, healthy.Load())
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop(ctx, 10*time.Millisecond, check, notify, slog.New(slog.DiscardHandler))
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(pings) }

	time.Sleep(100 * time.Millisecond)
	if n := count(); n < 5 {
		t.Fatalf("%d pings in 100ms at a 10ms period", n)
	}
	healthy.Store(false)
	time.Sleep(30 * time.Millisecond) // a ping may have been decided just before
	down := count()
	time.Sleep(100 * time.Millisecond)
	if n := count(); n != down {
		t.Errorf("%d pings while the database was down", n-down)
	}
	healthy.Store(true)
	time.Sleep(100 * time.Millisecond)
	if n := count(); n < down+5 {
		t.Errorf("pings did not resume: %d after recovery", n-down)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("loop did not stop with its context")
	}
}

func TestOffWithoutWatchdogSec(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(context.Background(), func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run kept going without WatchdogSec")
	}
}
