package procstart

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A stat line as Linux writes it, with a command name holding spaces and
// parentheses, which only the last ")" ends.
const stat = "4242 (go (run) x) S 4200 4242 4200 34816 4242 4194304 1203 0 0 0 12 3 0 0 20 0 9 0 1144778 1358663680 9183 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"

func TestStartIsNowMinusTheAgeOnTheBootClock(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	// Started at 11447.78 s after boot, read at 11449.05: 1.27 s old.
	got, name, err := FromProc(now, []byte("11449.05 8904.08\n"), []byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-1270 * time.Millisecond); !got.Equal(want) {
		t.Errorf("start %s, want %s (1.27 s before now)", got.Format(time.StampMilli), want.Format(time.StampMilli))
	}
	if name != "go (run) x" {
		t.Errorf("command name %q, want %q", name, "go (run) x")
	}
}

func TestUptimeDecimalsAreHonoured(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"11449.05 1.0": 11449*time.Second + 50*time.Millisecond,
		"7.5":          7500 * time.Millisecond,
		"12":           12 * time.Second,
	} {
		got, err := parseUptime([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseUptime(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestBadProcTextIsRefused(t *testing.T) {
	now := time.Now()
	for name, c := range map[string]struct{ uptime, stat, want string }{
		"no command name":      {"10.00", "4242 go S 1", "no (command)"},
		"short stat":           {"10.00", "4242 (go) S 1 2 3", "fields after"},
		"start not a number":   {"10.00", strings.Replace(stat, " 1144778 ", " x ", 1), "not a number of ticks"},
		"uptime not seconds":   {"ten", stat, "not seconds"},
		"started after uptime": {"10.00", stat, "after the uptime read"},
	} {
		if _, _, err := FromProc(now, []byte(c.uptime), []byte(c.stat)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one saying %q", name, err, c.want)
		}
	}
}

// This process started before the test ran, and not long before.
func TestOfThisProcess(t *testing.T) {
	got, _, err := Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(got); age < 0 || age > 10*time.Minute {
		t.Errorf("this process started %s ago by /proc: want a positive age under the test's timeout", age)
	}
}
