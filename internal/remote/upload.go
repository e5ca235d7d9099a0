package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	scp "github.com/bramvdbogaerde/go-scp"
)

// Upload streams the local file to remotePath over this connection with
// go-scp (the server's `scp -t` sink: the server needs an `scp` binary),
// created with mode. progress, if set, is called as bytes leave, with the
// total. A transfer cut short leaves a partial file at remotePath, which
// the next upload there overwrites: upload to a temporary name, check it
// and move it in place (deploy's releases/.upload-<id>, which the deploy
// lock removes when its holder dies). remotePath must be a plain path
// (letters, digits, / . _ -).
func (c *Client) Upload(ctx context.Context, local, remotePath string, mode os.FileMode, progress func(sent, total int64)) error {
	if !SafePath(remotePath) {
		return fmt.Errorf("upload to %q: use a path of letters, digits and / . _ -", remotePath)
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	cl, err := scp.NewClientBySSH(c.ssh)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	var pass scp.PassThru
	if progress != nil {
		pass = func(r io.Reader, total int64) io.Reader {
			return &countingReader{r: r, total: total, fn: progress}
		}
	}
	err = cl.CopyFromFilePassThru(ctx, *f, remotePath, fmt.Sprintf("%04o", mode.Perm()), pass)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		// go-scp's errors carry the server's scp messages.
		return fmt.Errorf("upload %s to %s:%s: %w", local, c.cfg.Alias, remotePath, cleanError{err})
	}
	return nil
}

// SafePath reports whether p needs no quoting in any shell or in go-scp's
// command line.
func SafePath(p string) bool {
	if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != "" {
		return false
	}
	return !strings.HasPrefix(path.Base(p), "-")
}

type countingReader struct {
	r         io.Reader
	sent      int64
	total     int64
	fn        func(sent, total int64)
	lastShown int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sent += int64(n)
	// Every 256 KiB and at the end: enough for a smooth bar, cheap enough
	// not to show up in the benchmark.
	if c.sent-c.lastShown >= 256<<10 || (err == io.EOF || c.sent == c.total) && c.sent != c.lastShown {
		c.lastShown = c.sent
		c.fn(c.sent, c.total)
	}
	return n, err
}
