package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/slipway-dev/slipway/internal/remote"
)

// Fetch copies backup b to the local file dst (0600), through a temporary
// file renamed once complete and of the size the server holds: an
// interrupted fetch leaves no partial dst.
func (s Server) Fetch(ctx context.Context, c *remote.Client, b Info, dst string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	p, err := c.Start("cat " + quote(s.Path(b.ID)))
	if err != nil {
		return fmt.Errorf("fetch %s: %w", b.ID, err)
	}
	defer p.Close()
	n, err := io.Copy(tmp, p.Stdout)
	if werr := p.Wait(); err == nil && werr != nil {
		err = werr
	}
	if err == nil && n != b.Size {
		err = fmt.Errorf("got %d bytes, the server holds %d", n, b.Size)
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		return fmt.Errorf("fetch backup %s from %s: %w", b.ID, s.Alias, err)
	}
	return os.Rename(tmp.Name(), dst)
}
