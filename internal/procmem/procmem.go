// Package procmem reads a process's memory figures from /proc (Linux), for
// tests and benchmarks that bound what an attack or a load costs.
package procmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status reads a "kB" line of /proc/<pid>/status (VmRSS, the resident
// memory now; VmHWM, its peak so far...) in bytes. pid "self" is this
// process.
func Status(pid, key string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%s/status", key, pid)
}
