//go:build ignore

// Zero-install bootstrap: `go run mage.go <target>` runs the targets in
// magefile.go without a mage binary on PATH.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/magefile/mage/mage"
)

func main() {
	// The user's wait starts with `go run`, before this bootstrap and the
	// magefile are compiled: deploy reports its wall time from there.
	if os.Getenv("SLIPWAY_COMMAND_START") == "" {
		os.Setenv("SLIPWAY_COMMAND_START", strconv.FormatInt(commandStart().UnixNano(), 10))
	}
	// Mage has no variadic targets: `exec -- ARGS` hands ARGS over in the
	// environment (JSON), and mage sees `exec` alone.
	for i, a := range os.Args {
		if a == "--" {
			b, _ := json.Marshal(os.Args[i+1:])
			os.Setenv("SLIPWAY_EXEC_ARGS", string(b))
			os.Args = os.Args[:i]
			break
		}
	}
	os.Exit(mage.Main())
}

// commandStart is when the parent `go run` started, read from /proc (start
// time in clock ticks of 100 Hz after boot, the Linux ABI's USER_HZ), or
// now when the parent is not `go` or /proc can't tell.
func commandStart() time.Time {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/stat")
	if err != nil || !bytes.Contains(stat, []byte(" (go) ")) {
		return time.Now()
	}
	// Fields after the ")" of the command name: state is field 3, start time 22.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	sys, err := os.ReadFile("/proc/stat")
	if err != nil || len(f) < 20 {
		return time.Now()
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Now()
	}
	for _, line := range strings.Split(string(sys), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				break
			}
			return time.Unix(boot, 0).Add(time.Duration(ticks) * 10 * time.Millisecond)
		}
	}
	return time.Now()
}
