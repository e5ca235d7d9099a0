package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
)

func TestProcStatusReadsThisProcess(t *testing.T) {
	rss, err := procStatus("self", "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	hwm, err := procStatus("self", "VmHWM")
	if err != nil || hwm < rss || rss < 1<<20 {
		t.Errorf("VmRSS %d, VmHWM %d (%v): want a peak at least the current size, over 1 MiB", rss, hwm, err)
	}
	if _, err := procStatus("self", "VmNothing"); err == nil {
		t.Error("a missing key read as a value")
	}
}

func TestLoginTableShowsCodesAndDeaths(t *testing.T) {
	var b bytes.Buffer
	LoginTable([]LoginResult{
		{Binary: "main (before)", Pattern: "spray", Attempts: 3, BaseRSS: 80 << 20, PeakRSS: 1080 << 20, Errors: 3, Died: "fatal error: out of memory", Codes: map[int]int{}},
		{Binary: "this tree (after)", Pattern: "spray", Attempts: 3, BaseRSS: 80 << 20, PeakRSS: 200 << 20, Codes: map[int]int{503: 2, 401: 1}, Slowest: 2 * time.Second},
	}).Print(&b)
	for _, want := range []string{"1000.0 MiB", "3×no answer", "the app died: fatal error: out of memory", "120.0 MiB", "1×401 2×503"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFloodTableShowsPercentilesAndFailures(t *testing.T) {
	var b bytes.Buffer
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	FloodTable([]FloodResult{{Binary: "main (before)", Quiet: ms(2, 3, 4), Flooded: ms(1400, 1500, 3000), FloodedBad: 2,
		Flood: admintest.FloodStats{Sent: 100, Skipped: 5, NoAnswer: 1, Codes: map[int]int{415: 99}}}}).Print(&b)
	for _, want := range []string{"1.5s  3s", "99×415 1×no answer", "100 (5 skipped)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if p := percentile(ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99); p != 10*time.Millisecond {
		t.Errorf("p99 of 1..10 ms: %s, want 10ms", p)
	}
}
