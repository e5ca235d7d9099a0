package admin

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestFrontRemembersABoundedNumberOfClients: a flood from ever new
// addresses can't grow the front limiter's memory past MaxKeys.
func TestFrontRemembersABoundedNumberOfClients(t *testing.T) {
	f := newFront(FrontLimits{PerClient: Rate{Burst: 5, Every: time.Hour}, PerDevice: Rate{Burst: 5}, Global: Rate{Burst: 5}, MaxKeys: 1000})
	now := time.Now()
	for i := range 20_000 {
		f.garbage(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now)
		if len(f.keys) > 1000 {
			t.Fatalf("after %d clients the front remembers %d, want at most 1000", i+1, len(f.keys))
		}
	}
}

// TestFrontGlobalCapNeverStopsAKnownBrowser: once unknown browsers have
// spent the global bucket and their clients' buckets, a known browser
// still passes, counted in its own bucket only.
func TestFrontGlobalCapNeverStopsAKnownBrowser(t *testing.T) {
	f := newFront(FrontLimits{PerClient: Rate{Burst: 2}, PerDevice: Rate{Burst: 3}, Global: Rate{Burst: 10}, MaxKeys: 100})
	now := time.Now()
	for i := range 10 {
		if err := f.allow(fmt.Sprintf("203.0.113.%d", i), "", now); err != nil {
			t.Fatalf("attempt %d within the global burst: %v", i+1, err)
		}
	}
	if err := f.allow("198.51.100.7", "", now); !errors.Is(err, ErrBusy) {
		t.Errorf("a new client past the global cap: %v, want ErrBusy", err)
	}
	for range 2 {
		f.garbage("198.51.100.200", now)
	}
	for i := range 3 {
		if err := f.allow("198.51.100.200", "device-id", now); err != nil {
			t.Errorf("the known browser, global cap spent and its address's bucket empty, post %d: %v", i+1, err)
		}
	}
	if err := f.allow("198.51.100.200", "device-id", now); !errors.Is(err, ErrRateLimited) {
		t.Errorf("the known browser past its own bucket: %v, want a rate limit", err)
	}
}
