package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// Run with -race: concurrent writes and reads must not race, and no write
// may be lost or torn.
func TestConcurrentWritesAndReadsKeepEveryLine(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 {
		t.Errorf("%d lines, want 800", got)
	}
}
