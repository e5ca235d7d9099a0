// Package envfile is the service's env file (/etc/<app>/<app>.env) as
// env:set, env:unset, env:list and env:diff see it: how systemd reads it
// (Parse, a port of systemd 252's parser, held to systemd itself by a
// corpus test on the sandbox), which names may be set, which values are
// refused before anything is written, how a change is made in the file
// (File.Apply) and a value written so systemd reads it back unchanged
// (Encode), and the scripts that read and replace the file on the server.
// Values travel only on the stdin and stdout of a root shell there, never
// in an argument: a command line is readable by every user of the server
// (`ps`, /proc/*/cmdline).
package envfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slipway-dev/slipway/internal/config"
)

// Change is one env:set (Value) or env:unset (Unset) of Key.
type Change struct {
	Key   string
	Value string
	Unset bool
	// DatabaseURL is the app's name for its database URL variable
	// (service.Config.DatabaseURL); "" is DATABASE_URL. Under another name
	// it is still required and must parse.
	DatabaseURL string
}

// MaxValue bounds a value: systemd reads env file lines of up to 1 MiB;
// a setting far larger is a mistake (a file pasted instead of a path).
const MaxValue = 64 << 10

var nameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// goRuntime are the Go runtime's own settings, which the app honours too.
var goRuntime = []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"}

// reserved are set by systemd or by the unit for each start: one in the
// env file would override them and break the handover or readiness.
var reserved = []string{"SLIPWAY_RELEASE", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
	"WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID", "MAINPID", "PATH", "HOME", "USER"}

// Known reports whether the app reads name: config.Vars, or a Go runtime
// setting.
func Known(name string) bool {
	for _, v := range config.Vars {
		if v.Name == name {
			return true
		}
	}
	return slices.Contains(goRuntime, name)
}

// Validate refuses, before anything is written anywhere, a name that is
// not a setting name, one systemd sets itself, one the app doesn't know
// (unless force: a setting of the user's own), a value of more than one
// line, invalid UTF-8, and a value the app would refuse to start with (config.Check:
// DATABASE_URL must parse, durations must be durations...). Its messages
// name the setting; only the app's checks of settings that are no secret
// (a format, a duration) quote the bad value.
func (ch Change) Validate(force bool) error {
	k := ch.Key
	// The app's database URL under a name of its own.
	urlVar := k != "DATABASE_URL" && k == ch.DatabaseURL
	switch {
	case !nameRE.MatchString(k):
		return fmt.Errorf("env: %q is not a setting name: use upper-case letters, digits and _, not starting with a digit (e.g. PASSWORD_PEPPER)", k)
	case slices.Contains(reserved, k):
		return fmt.Errorf("env: %s is set by systemd or the unit for each start, not by the env file: leave it out", k)
	case !Known(k) && !force && !urlVar:
		return fmt.Errorf("env: %s is not a setting the app reads (`go run mage.go exec -- help` lists them): check the spelling, or add -force for a setting of your own", k)
	}
	if ch.Unset {
		if k == "DATABASE_URL" || urlVar {
			return fmt.Errorf("env: %s is required, the app can't start without it: set another value instead of unsetting it", k)
		}
		return nil
	}
	v := ch.Value
	switch {
	case strings.ContainsAny(v, "\n\r"):
		return fmt.Errorf("env: the value of %s holds a line break: an env file value is one line (a trailing newline from a file? use `tr -d '\\n'`)", k)
	case strings.ContainsRune(v, 0):
		return fmt.Errorf("env: the value of %s holds a NUL byte, which an environment can't carry", k)
	case !utf8.ValidString(v):
		return fmt.Errorf("env: the value of %s is not valid UTF-8, and systemd refuses an env file holding one (the app would not start): convert it (iconv -t UTF-8)", k)
	case len(v) > MaxValue:
		return fmt.Errorf("env: the value of %s is %d bytes, more than %d: put large data in a file and the path in the setting", k, len(v), MaxValue)
	}
	if urlVar {
		if err := config.CheckDatabaseURL(v); err != nil {
			return fmt.Errorf("env: %s refused, nothing was written: %s", k, strings.Replace(err.Error(), "DATABASE_URL", k, 1))
		}
		return nil
	}
	if !Known(k) {
		return nil
	}
	// The app's own check, on this setting alone over a parsable database.
	getenv := func(name string) string {
		switch name {
		case k:
			return v
		case "DATABASE_URL":
			return "postgres://check@localhost/check"
		}
		return ""
	}
	if _, err := config.Check(getenv); err != nil {
		return fmt.Errorf("env: %s refused, nothing was written: %w", k, err)
	}
	return nil
}

// safeRE is what a value may hold to be written bare.
var safeRE = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=?&-]*$`)

// Encode is how value is written after KEY=, so that systemd's
// EnvironmentFile= reader gives back exactly value: bare when it holds
// only safe characters, else in double quotes with \ before " \ ` and $
// (systemd's parser drops that backslash inside double quotes). The same
// value always encodes the same: env:diff compares the written text.
func Encode(value string) string {
	if safeRE.MatchString(value) {
		return value
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range value {
		if strings.ContainsRune("\"\\`$", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
