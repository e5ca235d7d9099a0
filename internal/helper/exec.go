package helper

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
)

// ExecArgsEnv is the variable in which exec-app hands the arguments to the
// app (app.Main reads it when it has no arguments of its own): each
// argument hex-encoded and followed by a space. A binary that holds this
// name is taken to read it, any other gets its arguments in argv.
const ExecArgsEnv = "SLIPWAY_ARGS"

func init() {
	Register("exec", true, execStep)
	Register("exec-app", false, execAppStep)
}

// UnitArgs describe the transient unit exec (and psql) run in: the
// service's user, env file and sandboxing, as the client's service.Config
// gives them.
type UnitArgs struct {
	// Description is the unit's, never the command line (systemd's
	// default), which every "Started ..." line of the journal would carry.
	Description string `json:"description"`
	// Properties are systemd-run -p settings; User= must name a user
	// other than root.
	Properties []string `json:"properties"`
}

var (
	unitProperty = regexp.MustCompile(`^[A-Z][A-Za-z]+=[^\n\x00]*$`)
	description  = regexp.MustCompile(`^[A-Za-z0-9_.@ -]{1,100}$`)
)

// check refuses a unit that is not the service's kind: no user, root, a
// property that is not one.
func (u UnitArgs) check() error {
	if !description.MatchString(u.Description) {
		return fmt.Errorf("unit description %q: want letters, digits and spaces", u.Description)
	}
	user := ""
	for _, p := range u.Properties {
		if !unitProperty.MatchString(p) {
			return fmt.Errorf("unit property %q: want Name=value on one line", p)
		}
		if v, ok := strings.CutPrefix(p, "User="); ok {
			user = v
		}
	}
	if user == "" || user == "root" || user == "0" {
		return errors.New("the unit runs as the service's user: give User=<SERVICE_USER>, not root")
	}
	return nil
}

// ExecArgs are exec's arguments: the unit. The app's own arguments follow
// on stdin, in exec-app's request (ExecAppArgs).
type ExecArgs struct {
	Unit UnitArgs `json:"unit"`
	// MergeOutput sends the app's stderr to stdout, in order (env:set's
	// `app config check`, whose complaint is the answer).
	MergeOutput bool `json:"merge_output,omitempty"`
}

// execStep runs the helper's exec-app step in a transient unit as the
// service (its user, env file and sandboxing), stdin and output forwarded
// (--pipe), and exits with its status. Its stdin is handed over as it is:
// exec-app reads its request (the app's arguments) from it, then the app
// reads the rest. The arguments thus travel on stdin only, never in the
// argv of sudo, this helper or systemd-run, nor in a unit property, which
// ps, sudo's journal lines and `systemctl show` reveal.
func execStep(ctx context.Context, e *Env, a ExecArgs) error {
	if err := a.Unit.check(); err != nil {
		return err
	}
	t := Transient{Description: a.Unit.Description, Properties: append([]string{"Type=exec"}, a.Unit.Properties...), Cmd: []string{e.Self, "exec-app"}}
	var stderr io.Writer = os.Stderr
	if a.MergeOutput {
		stderr = e.Out
	}
	status, err := e.Sys.Attach(ctx, t, "--pipe", e.In, e.Out, stderr)
	if err != nil {
		return err
	}
	return ExitStatus(status)
}

// ExecAppArgs are exec-app's arguments: the binary and the arguments to
// run it with.
type ExecAppArgs struct {
	Binary string   `json:"binary"`
	Args   []string `json:"args"`
}

// execAppStep runs in exec's unit, as the service: it execs the app with
// its arguments, in ExecArgsEnv when the binary reads them there, else in
// argv (a binary built before it did). What follows the request on stdin
// is the app's (admin create's password).
func execAppStep(_ context.Context, e *Env, a ExecAppArgs) error {
	if err := checkPath("binary", a.Binary); err != nil {
		return err
	}
	argv, env, err := appInvocation(e.Path(a.Binary), a.Args, os.Environ())
	if err != nil {
		return err
	}
	argv[0] = a.Binary
	exec := syscall.Exec
	if e.exec != nil {
		exec = e.exec
	}
	if err := exec(e.Path(a.Binary), argv, env); err != nil {
		return fmt.Errorf("exec: run %s: %w", a.Binary, err)
	}
	return nil
}

// appInvocation is the argv and environment bin runs with for args.
func appInvocation(bin string, args, environ []string) (argv, env []string, err error) {
	reads, err := holds(bin, ExecArgsEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %w", err)
	}
	for _, kv := range environ {
		if !strings.HasPrefix(kv, ExecArgsEnv+"=") {
			env = append(env, kv)
		}
	}
	if !reads {
		return append([]string{bin}, args...), env, nil
	}
	var b strings.Builder
	for _, a := range args {
		b.WriteString(hex.EncodeToString([]byte(a)) + " ")
	}
	return []string{bin}, append(env, ExecArgsEnv+"="+b.String()), nil
}

// holds reports whether the file holds s.
func holds(file, s string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var tail []byte
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		chunk := append(tail, buf[:n]...)
		if bytes.Contains(chunk, []byte(s)) {
			return true, nil
		}
		if len(chunk) >= len(s) {
			tail = append([]byte(nil), chunk[len(chunk)-len(s)+1:]...)
		} else {
			tail = chunk
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
