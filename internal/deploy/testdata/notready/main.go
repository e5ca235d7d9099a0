// Command notready is a release that never becomes ready: it answers
// `version` like the app, but `serve` never tells systemd READY=1 and never
// listens. Deploy must roll back from it on its own.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/slipway-dev/slipway/internal/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		// Stamped by internal/build like the app.
		fmt.Printf("version %s\ncommit %s\ngo go1\n", version.Version, version.Commit)
		return
	}
	fmt.Fprintln(os.Stderr, "notready: starting, and never getting there")
	for {
		time.Sleep(time.Hour)
	}
}
