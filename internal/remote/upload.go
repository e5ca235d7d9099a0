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
// go-scp (the server needs an `scp` binary), created with mode. progress,
// if set, is called as bytes leave, with the total. If the transfer fails
// or the connection is cut, the server removes the partial file: the scp
// sink runs under a shell that deletes it when scp fails. remotePath must
// be a plain path (letters, digits, / . _ -).
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
	// go-scp runs `<RemoteBinary> -qt "<path>"`: $2 is the path. A sink cut
	// off mid-file leaves a truncated file, so remove it unless scp succeeded.
	cl.RemoteBinary = `sh -c 'scp "$@" || { s=$?; rm -f -- "$2"; exit $s; }' scp`
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
