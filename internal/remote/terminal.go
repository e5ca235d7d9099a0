package remote

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// TerminalRoot runs cmd (one command, as for StreamRoot) as root, on a
// pseudo-terminal of the server that stands for the local terminal (in,
// out): same $TERM and size, resized with it, the local one in raw mode
// meanwhile so every key (Ctrl-C, arrows, Tab) reaches the remote program,
// as `ssh -t` does.
// Its output is the remote terminal's and is not cleaned (Clean): line
// editing and pagers need their escape sequences. A non-zero exit is an
// *ExitError with the command's status.
func (c *Client) TerminalRoot(ctx context.Context, cmd string, in, out *os.File) error {
	cmd, err := rootCommand(c.cfg.User, cmd)
	if err != nil {
		return err
	}
	w, h, err := term.GetSize(int(out.Fd()))
	if err != nil {
		return fmt.Errorf("terminal size: %w", err)
	}
	s, err := c.ssh.NewSession()
	if err != nil {
		return fmt.Errorf("open ssh session to %s: %w", c.cfg.Alias, err)
	}
	defer s.Close()
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := s.RequestPty(cmp.Or(os.Getenv("TERM"), "xterm"), h, w, modes); err != nil {
		return fmt.Errorf("pseudo-terminal on %s: %w", c.cfg.Alias, err)
	}
	s.Stdout, s.Stderr = out, out
	stdin, err := s.StdinPipe()
	if err != nil {
		return err
	}
	// Not s.Stdin: Wait would wait for an EOF the terminal never sends.
	go func() { _, _ = io.Copy(stdin, in) }()
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("raw terminal: %w", err)
	}
	defer func() { _ = term.Restore(int(in.Fd()), old) }()
	resized := make(chan os.Signal, 1)
	signal.Notify(resized, syscall.SIGWINCH)
	defer func() { signal.Stop(resized); close(resized) }()
	go func() {
		for range resized {
			if w, h, err := term.GetSize(int(out.Fd())); err == nil {
				_ = s.WindowChange(h, w)
			}
		}
	}()
	if err := s.Start(cmd); err != nil {
		return fmt.Errorf("start remote command %q: %w", summary(cmd), err)
	}
	if cancelled, err := wait(ctx, s, cmd); cancelled {
		return err
	} else if err != nil {
		return exitError(cmd, err, "")
	}
	return nil
}
