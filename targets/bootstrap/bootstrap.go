// Package bootstrap is the body of an app's mage.go: `go run mage.go
// <target>` runs the magefile's targets with no mage install.
//
//	//go:build ignore
//
//	package main
//
//	import "github.com/slipway-dev/slipway/targets/bootstrap"
//
//	func main() { bootstrap.Main() }
package bootstrap

import (
	"encoding/json"
	"os"
	"strconv"
	"time"

	"github.com/magefile/mage/mage"

	"github.com/slipway-dev/slipway/internal/procstart"
)

// Main runs mage on the magefile in the working directory with the
// command line's arguments, and exits with its status. Arguments after
// `--` go to the exec target (mage has no variadic targets), and the time
// the user's `go run` started goes to deploy's wall-time report.
func Main() {
	// The user's wait starts with `go run`, before this bootstrap and the
	// magefile are compiled: deploy reports its wall time from there.
	if os.Getenv("SLIPWAY_COMMAND_START") == "" {
		os.Setenv("SLIPWAY_COMMAND_START", strconv.FormatInt(commandStart().UnixNano(), 10))
	}
	os.Args = execArgs(os.Args)
	os.Exit(mage.Main())
}

// execArgs hands what follows `--` over in the environment (JSON, as
// SLIPWAY_EXEC_ARGS) and returns the arguments before it: mage sees `exec`
// alone.
func execArgs(args []string) []string {
	for i, a := range args {
		if a == "--" {
			b, _ := json.Marshal(args[i+1:])
			os.Setenv("SLIPWAY_EXEC_ARGS", string(b))
			return args[:i]
		}
	}
	return args
}

// commandStart is when the parent `go run` started (procstart), or now
// when the parent is not `go` or /proc can't tell.
func commandStart() time.Time {
	t, name, err := procstart.Of(os.Getppid())
	if err != nil || name != "go" {
		return time.Now()
	}
	return t
}
