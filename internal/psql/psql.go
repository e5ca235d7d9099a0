// Package psql is `go run mage.go psql [-c SQL]`: psql on the app's
// database, run on the server as the service (its user, env file and
// sandboxing) by slipway-helper's psql step, which turns DATABASE_URL into
// libpq's PG* variables (internal/pgenv, the app's own parser): the
// credentials are never in any process's arguments or a history file.
package psql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/helper"
	hclient "github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Options says what psql does.
type Options struct {
	// SQL is one command to run (-c); "" is a session: interactive on a
	// terminal, else the script read from stdin.
	SQL string
	// Terminal is set when stdin and stdout are the user's terminal: psql
	// then gets a pseudo-terminal of the server (line editing, pager,
	// Ctrl-C cancelling the query).
	Terminal bool
}

// Command is the command run as root on the server: slipway-helper bin's
// psql step in a transient unit as the service (appexec.Unit), its
// request (no secret: the variable's name, psql's options) in its argv,
// as its stdin is psql's. Outside a terminal psql stops at the first
// error (ON_ERROR_STOP), so the exit status says whether everything ran.
// o.SQL is not in it: Run sends it on stdin (Script), as no argument on
// the server may carry it.
func Command(c service.Config, o Options, bin hclient.Binary) (string, error) {
	io := "--pipe"
	if o.Terminal && o.SQL == "" {
		io = "--pty"
	}
	a := helper.PsqlArgs{EnvFile: c.EnvFile(), URLVar: c.DatabaseURLVar()}
	if io == "--pipe" {
		a.Args = []string{"-v", "ON_ERROR_STOP=1"}
	}
	req, err := helper.ArgvRequest("psql", a)
	if err != nil {
		return "", err
	}
	words := appexec.Unit(c, io, "psql")
	return remote.QuoteAll(append(words, append(strings.Fields(hclient.Command(bin, "psql")), req)...)), nil
}

// Script is what psql reads on stdin to run sql as `psql -c` would, from
// no argument: a query whose one value is sql, run by \gexec as one query
// string (the statements of sql in one implicit transaction, each result
// printed), where a script would split it at each semicolon. A backslash
// command (which -c also takes) is a line of its own.
func Script(sql string) string {
	if strings.HasPrefix(strings.TrimSpace(sql), `\`) {
		return sql + "\n"
	}
	// A dollar quote whose tag sql does not hold carries it verbatim.
	tag := "$slipway$"
	for i := 1; strings.Contains(sql, tag); i++ {
		tag = "$slipway" + strconv.Itoa(i) + "$"
	}
	return "SELECT " + tag + sql + tag + " \\gexec\n"
}

// Conn runs root commands on the server (*remote.Client).
type Conn interface {
	hclient.Runner
	StreamRoot(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error
	TerminalRoot(ctx context.Context, cmd string, in, out *os.File) error
}

// ExitError is psql exiting non-zero (1: an error, 2: no connection, 3: an
// error in a script): Status is its exit status, for the caller's own.
type ExitError struct{ Status int }

// ExitStatus is Status: what mage exits with.
func (e *ExitError) ExitStatus() int { return e.Status }

func (e *ExitError) Error() string {
	return fmt.Sprintf("psql on the server: exit status %d", e.Status)
}

// Run runs psql on the server cn reaches. On a terminal (o.Terminal)
// stdin and stdout are that terminal's *os.File; otherwise stdin is
// forwarded to a session's psql (nil for none) and its output comes back
// cleaned (remote.Clean) on stdout and stderr.
func Run(ctx context.Context, cn Conn, c service.Config, o Options, stdin io.Reader, stdout, stderr io.Writer) error {
	bin, err := hclient.Ready(ctx, cn)
	if err != nil {
		return fmt.Errorf("psql on the server: %w", err)
	}
	cmd, err := Command(c, o, bin)
	if err != nil {
		return err
	}
	in, inTTY := stdin.(*os.File)
	out, outTTY := stdout.(*os.File)
	switch {
	case o.Terminal && o.SQL == "" && inTTY && outTTY:
		err = cn.TerminalRoot(ctx, cmd, in, out)
	case o.Terminal && o.SQL == "":
		return errors.New("psql: a terminal session needs the terminal's stdin and stdout")
	case o.SQL != "":
		err = cn.StreamRoot(ctx, cmd, strings.NewReader(Script(o.SQL)), stdout, stderr)
	default:
		err = cn.StreamRoot(ctx, cmd, stdin, stdout, stderr)
	}
	var ee *remote.ExitError
	if errors.As(err, &ee) && ee.Status > 0 {
		// An error in the script that stands for -c is -c's error: 1.
		if o.SQL != "" && ee.Status == 3 {
			return &ExitError{Status: 1}
		}
		return &ExitError{Status: ee.Status}
	}
	if err != nil {
		return fmt.Errorf("psql on the server: %w", err)
	}
	return nil
}
