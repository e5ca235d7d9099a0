// Package createadmin is `go run mage.go createAdmin`: it runs
// `app admin create` on the server, as the service user, with the service's
// environment (PASSWORD_PEPPER, DATABASE_URL) and sandbox, piping the
// password through stdin so it never appears in any process's arguments.
package createadmin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/users"
)

// The app's `admin create` runs through appexec (the service's user, env
// and sandbox): its command (appexec.PrivateCommand) names no argument:
// they and then the password travel on stdin (Stdin), so the email is in
// no process list and no sudo journal line.

// Stdin is what appexec.PrivateCommand reads: exec's requests with the
// command's arguments, then the password.
func Stdin(c service.Config, email string, reset bool, password string) (io.Reader, error) {
	args := []string{"admin", "create", "-email", email}
	if reset {
		args = append(args, "-reset-password")
	}
	return appexec.Stdin(c, args, strings.NewReader(password+"\n"))
}

// Options configures Run.
type Options struct {
	Email    string
	Password string // from ADMIN_PASSWORD or the prompt
	Reset    bool   // set a new password for an existing user
	Stdout   io.Writer
}

// Run creates the admin on the server r reaches. The password is checked
// locally first, so a weak one fails before anything is sent.
func Run(ctx context.Context, r service.Runner, c service.Config, o Options) error {
	email, err := users.NormaliseEmail(o.Email)
	if err != nil {
		return fmt.Errorf("createAdmin: %w", err)
	}
	if err := password.CheckStrength(o.Password, email); err != nil {
		return fmt.Errorf("createAdmin: %w", err)
	}
	cmd, err := appexec.PrivateCommand(ctx, r)
	if err != nil {
		return fmt.Errorf("createAdmin on the server: %w", err)
	}
	in, err := Stdin(c, email, o.Reset, o.Password)
	if err != nil {
		return err
	}
	out, err := r.RunRoot(ctx, cmd, in)
	fmt.Fprint(o.Stdout, filterLogs(out))
	if err != nil {
		return fmt.Errorf("createAdmin on the server: %w (is the app deployed and %s filled in? see `go run mage.go status`)", err, c.EnvFile())
	}
	return nil
}

// filterLogs keeps the command's result lines and drops its JSON log lines
// (the server's journal has them).
func filterLogs(out []byte) string {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "{") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Password returns ADMIN_PASSWORD when set, else prompts twice without echo
// on the terminal.
func Password(getenv func(string) string, stdin *os.File, prompt io.Writer) (string, error) {
	if p := getenv("ADMIN_PASSWORD"); p != "" {
		return p, nil
	}
	if !password.IsTerminal(stdin) {
		return "", errors.New("createAdmin: no password: set ADMIN_PASSWORD (for scripts) or run it in a terminal to be prompted")
	}
	pw, err := password.Prompt(stdin, prompt, "Admin password")
	if err != nil {
		return "", fmt.Errorf("createAdmin: %w", err)
	}
	return pw, nil
}
