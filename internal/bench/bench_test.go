package bench

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

func TestMedianTakesTheMiddleOrTheMeanOfTheTwoMiddles(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{5, 1, 3}, 3},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{10, 20}, 15},
	} {
		in := append([]time.Duration(nil), c.in...)
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("Median reordered its input: %v, was %v", c.in, in)
		}
	}
}

func TestTableAlignsColumnsAndDashesEmptyCells(t *testing.T) {
	tb := Table{Title: "bench:x", About: []string{"one line"}, Header: []string{"row", "a", "b"}}
	tb.Add("first", "1", "")
	tb.Add("second row", "22", "3")
	tb.Note("note %d", 7)
	var out bytes.Buffer
	tb.Print(&out)
	want := "bench:x\n  one line\n\nrow         a   b\nfirst       1   -\nsecond row  22  3\nnote 7\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRatioSaysDashForNoBaseline(t *testing.T) {
	for _, c := range []struct {
		a, b int64
		want string
	}{{1, 0, "-"}, {1, 2, "0.50x"}, {1, 1000, "0.0010x"}, {0, 5, "0.00x"}} {
		if got := Ratio(c.a, c.b); got != c.want {
			t.Errorf("Ratio(%d, %d) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

func TestBaselineUnitIsTheServiceWithoutItsSocket(t *testing.T) {
	c := service.DefaultConfig()
	units, err := service.Units(c)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(units[c.ServiceUnit()])
	got, err := withoutSocket(unit, c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, ".socket") || !strings.Contains(got, "\nEnvironment=ADDR=127.0.0.1:8080\n") {
		t.Errorf("baseline unit:\n%s", got)
	}
	// Everything else, the hardening included, is the production unit's.
	for _, line := range strings.Split(unit, "\n") {
		if !strings.Contains(line, "socket") && !strings.HasPrefix(line, "After=") && !strings.Contains(got, line) {
			t.Errorf("baseline lost %q", line)
		}
	}
	if _, err := withoutSocket(strings.ReplaceAll(unit, "Requires=", "Wants="), c); err == nil {
		t.Error("a unit without the expected Requires= line was accepted")
	}
}
