// Package logging builds the app's slog logger: JSON for machines (journald,
// log shippers), text for people at a terminal.
package logging

import (
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"
)

// New returns a logger writing to w. format is "json", "text", or "" to
// choose: JSON under systemd (JOURNAL_STREAM set) or when w is not a
// terminal, text otherwise.
func New(w io.Writer, format string, getenv func(string) string) *slog.Logger {
	if format == "" {
		format = "json"
		if getenv("JOURNAL_STREAM") == "" && isTerminal(w) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
