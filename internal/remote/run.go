package remote

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// ExitError is a remote command that failed: its exit status and the tail
// of what it wrote to stderr.
type ExitError struct {
	Cmd    string
	Status int    // -1 when killed by a signal or the connection was lost
	Signal string // e.g. "KILL"
	Stderr string
}

func (e *ExitError) Error() string {
	how := fmt.Sprintf("exit status %d", e.Status)
	if e.Signal != "" {
		how = "killed by signal " + e.Signal
	}
	msg := fmt.Sprintf("remote command %q: %s", summary(e.Cmd), how)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// summary is a command's first line, cut short: scripts make long commands.
func summary(cmd string) string {
	line, _, more := strings.Cut(strings.TrimSpace(cmd), "\n")
	if len(line) > 80 {
		line, more = line[:77], true
	}
	if more {
		line += "..."
	}
	return line
}

// Run runs a shell command as the SSH user with stdin (nil for none) and
// returns its stdout, made safe to print (Clean) and cut at MaxOutput. A
// non-zero exit is an *ExitError carrying the last lines of stderr, cleaned
// too. Cancelling ctx kills the command.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	s, err := c.ssh.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open ssh session to %s: %w", c.cfg.Alias, err)
	}
	defer s.Close()
	stdout := &capBuffer{max: MaxOutput}
	stderr := &tailBuffer{max: 4096}
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.Start(cmd); err != nil {
		return nil, fmt.Errorf("start remote command %q: %w", summary(cmd), err)
	}
	if cancelled, err := wait(ctx, s, cmd); cancelled {
		// The session may still write to stdout: don't touch it again.
		return nil, err
	} else if err != nil {
		return []byte(stdout.text()), exitError(cmd, err, stderr.String())
	}
	return []byte(stdout.text()), nil
}

// wait waits for the started session s, or kills it when ctx ends first
// (cancelled true, err saying so).
func wait(ctx context.Context, s *ssh.Session, cmd string) (cancelled bool, err error) {
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		return false, err
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		return true, fmt.Errorf("remote command %q: %w", summary(cmd), ctx.Err())
	}
}

func exitError(cmd string, err error, stderr string) error {
	switch e := err.(type) {
	case *ssh.ExitError:
		return &ExitError{Cmd: cmd, Status: e.ExitStatus(), Signal: e.Signal(), Stderr: stderr}
	case *ssh.ExitMissingError:
		return &ExitError{Cmd: cmd, Status: -1, Stderr: stderr + " (connection lost before the command finished)"}
	}
	return fmt.Errorf("remote command %q: %w", summary(cmd), err)
}

// RunRoot runs one command as root: through `sudo -n --` unless the SSH
// user is root, no shell between (rootCommand). cmd is one program and its
// words quoted as QuoteAll quotes them; anything a shell would read as
// more (a list, a pipe, a redirection) is refused in one line. The
// server's steps are slipway-helper's (package helper), not shell.
func (c *Client) RunRoot(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	root, err := rootCommand(c.cfg.User, cmd)
	if err != nil {
		return nil, err
	}
	return c.Run(ctx, root, stdin)
}

// Process is a remote command left running, e.g. one holding a lock for as
// long as its session lives.
type Process struct {
	// Stdin is the command's standard input; closing it sends EOF.
	Stdin  io.WriteCloser
	Stdout io.Reader
	s      *ssh.Session
	cmd    string
	stderr *tailBuffer
}

// Start starts cmd and returns without waiting for it.
func (c *Client) Start(cmd string) (*Process, error) {
	s, err := c.ssh.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open ssh session to %s: %w", c.cfg.Alias, err)
	}
	p := &Process{s: s, cmd: cmd, stderr: &tailBuffer{max: 4096}}
	s.Stderr = p.stderr
	if p.Stdin, err = s.StdinPipe(); err != nil {
		s.Close()
		return nil, err
	}
	if p.Stdout, err = s.StdoutPipe(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Start(cmd); err != nil {
		s.Close()
		return nil, fmt.Errorf("start remote command %q: %w", summary(cmd), err)
	}
	return p, nil
}

// Wait waits for the command to exit.
func (p *Process) Wait() error {
	if err := p.s.Wait(); err != nil {
		return exitError(p.cmd, err, p.stderr.String())
	}
	return nil
}

// Close ends the session; the server closes the command's pipes.
func (p *Process) Close() error { return p.s.Close() }

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteAll is words quoted (Quote) and joined by spaces: one shell command.
func QuoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String is the tail, cleaned (Clean): it ends up in error messages.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Clean(string(t.b))
}
