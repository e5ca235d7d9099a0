// Package magelog holds what every Mage target of Slipway shares, the
// product's (targets) and this repository's own (magefile.go's test and
// bench:*): the logger for details and the -goarch default.
package magelog

import (
	"log/slog"
	"os"

	"github.com/magefile/mage/mg"
)

// Logger is every target's logger, for details: the exact go command,
// each ssh step, shown with mage -v. Progress is not logged: targets print
// it as sentences on stdout (deploy, provision, sandbox:*, bench:*).
func Logger() *slog.Logger {
	level := slog.LevelInfo
	if mg.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Arch picks the -goarch flag, then $GOARCH; "" leaves amd64 to the build.
func Arch(flag *string) string {
	if flag != nil {
		return *flag
	}
	return os.Getenv("GOARCH")
}
