package sandbox

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// PrereqError says what this machine lacks to run a sandbox. Its message is
// one line meant for a human; callers (the test helper) branch on its type to
// skip locally and fail in CI.
type PrereqError struct {
	Missing string
}

func (e *PrereqError) Error() string { return "sandbox: " + e.Missing }

// tools maps each binary the sandbox runs to the Debian package providing it.
var tools = []struct{ bin, pkg string }{
	{"debootstrap", "debootstrap"},
	{"systemd-nspawn", "systemd-container"},
	{"nsenter", "util-linux"},
}

// checkPrereqs takes the OS, euid and PATH lookup as inputs so the rules can
// be tested without being root or lacking packages.
func checkPrereqs(goos string, euid int, lookPath func(string) (string, error)) error {
	if goos != "linux" {
		return &PrereqError{Missing: "needs Linux (systemd-nspawn), this is " + goos}
	}
	if euid != 0 {
		return &PrereqError{Missing: "needs root (run with sudo)"}
	}
	var bins, pkgs []string
	for _, t := range tools {
		if _, err := lookPath(t.bin); err != nil {
			bins = append(bins, t.bin)
			pkgs = append(pkgs, t.pkg)
		}
	}
	if len(bins) > 0 {
		return &PrereqError{Missing: strings.Join(bins, ", ") + " not found: apt-get install " + strings.Join(pkgs, " ")}
	}
	return nil
}

// CheckPrereqs reports, as a *PrereqError, the first thing this machine lacks
// to run a sandbox: Linux, root, or one of the binaries it runs.
func CheckPrereqs() error {
	return checkPrereqs(runtime.GOOS, os.Geteuid(), exec.LookPath)
}
