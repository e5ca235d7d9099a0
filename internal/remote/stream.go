package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
)

// StreamRoot runs cmd as root, and streams: stdin is forwarded as it
// comes, and stdout and stderr are written line by line, each line cleaned
// (Clean), as the command writes them. cmd is one command, its words quoted
// with QuoteAll: it runs behind `sudo -n --` unless the SSH user is root,
// with no shell in between, so a script is refused. A non-zero exit is an
// *ExitError with the command's status. Cancelling ctx kills it.
func (c *Client) StreamRoot(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, err := rootCommand(c.cfg.User, cmd)
	if err != nil {
		return err
	}
	s, err := c.ssh.NewSession()
	if err != nil {
		return fmt.Errorf("open ssh session to %s: %w", c.cfg.Alias, err)
	}
	defer s.Close()
	out, errw := &lineCleaner{w: stdout}, &lineCleaner{w: stderr}
	s.Stdout, s.Stderr = out, errw
	if stdin != nil {
		// Not s.Stdin: Wait would then wait for stdin's EOF too, and a
		// terminal never sends it to a command that reads nothing.
		in, err := s.StdinPipe()
		if err != nil {
			return err
		}
		go func() {
			_, _ = io.Copy(in, stdin)
			_ = in.Close()
		}()
	}
	if err := s.Start(cmd); err != nil {
		return fmt.Errorf("start remote command %q: %w", summary(cmd), err)
	}
	cancelled, err := wait(ctx, s, cmd)
	if cancelled {
		return err
	}
	out.flush()
	errw.flush()
	if err != nil {
		return exitError(cmd, err, "")
	}
	return nil
}

// lineCleaner writes whole lines, cleaned, to w: an escape sequence split
// across two writes is still seen whole.
type lineCleaner struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (l *lineCleaner) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintln(l.w, Clean(string(l.buf[:i])))
		l.buf = l.buf[i+1:]
	}
	// A line longer than MaxOutput without a newline: write it in pieces.
	if len(l.buf) > MaxOutput {
		fmt.Fprint(l.w, Clean(string(l.buf)))
		l.buf = nil
	}
	return len(p), nil
}

func (l *lineCleaner) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		fmt.Fprint(l.w, Clean(string(l.buf)))
		l.buf = nil
	}
}
