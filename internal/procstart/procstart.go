// Package procstart tells when a process started, to within 20 ms, from
// Linux's /proc: deploy's "deployed in" counts from the start of the
// user's command, not from when Slipway's code got to run.
//
// Not from /proc/stat's btime plus the process's start ticks: btime is the
// boot time truncated to whole seconds, so that sum is early by the boot
// time's fraction of a second (0 to 1 s, the same all day on a host; it
// made deploy print 0.6 s more than a stopwatch measured). The start ticks
// and /proc/uptime count on the same clock (CLOCK_BOOTTIME, in 10 ms), so
// their difference is the process's age, and now minus the age is its start.
package procstart

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// tick is the unit of /proc/<pid>/stat's start time: USER_HZ, 100 in the
// Linux ABI whatever the kernel's own HZ.
const tick = 10 * time.Millisecond

// Of returns when process pid started, and its command name (e.g. "go").
func Of(pid int) (time.Time, string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, "", err
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, "", err
	}
	// Read right after /proc/uptime: the age is now minus that reading.
	return FromProc(time.Now(), uptime, stat)
}

// FromProc computes a process's start from now, /proc/uptime read at now,
// and the process's /proc/<pid>/stat; it returns the command name too.
func FromProc(now time.Time, uptime, stat []byte) (time.Time, string, error) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return time.Time{}, "", errors.New("procstart: no (command) in the stat line")
	}
	name := string(stat[open+1 : end])
	// Fields after the ")" of the command name: state is field 3, the
	// start time field 22.
	f := bytes.Fields(stat[end+1:])
	if len(f) < 20 {
		return time.Time{}, name, fmt.Errorf("procstart: %d fields after the command name, want at least 20", len(f))
	}
	ticks, err := strconv.ParseInt(string(f[19]), 10, 64)
	if err != nil || ticks < 0 {
		return time.Time{}, name, fmt.Errorf("procstart: start time %q is not a number of ticks", f[19])
	}
	up, err := parseUptime(uptime)
	if err != nil {
		return time.Time{}, name, err
	}
	age := up - time.Duration(ticks)*tick
	if age < 0 {
		return time.Time{}, name, fmt.Errorf("procstart: started %s after the uptime read", -age)
	}
	return now.Add(-age), name, nil
}

// parseUptime reads /proc/uptime's first field: seconds since boot with
// two decimals.
func parseUptime(b []byte) (time.Duration, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("procstart: /proc/uptime is empty")
	}
	secs, frac, _ := bytes.Cut(f[0], []byte("."))
	s, err := strconv.ParseInt(string(secs), 10, 64)
	if err != nil || s < 0 {
		return 0, fmt.Errorf("procstart: uptime %q is not seconds", f[0])
	}
	d := time.Duration(s) * time.Second
	if len(frac) > 0 {
		// At most nanoseconds: pad or cut the decimals to 9 digits.
		digits := (string(frac) + "000000000")[:9]
		ns, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstart: uptime %q is not seconds", f[0])
		}
		d += time.Duration(ns)
	}
	return d, nil
}
