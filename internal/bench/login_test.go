package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
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
