package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/version"
)

// errNotReady is a release that didn't become ready in time.
var errNotReady = errors.New("not ready")

// restartAndWait installs changed units, restarts the service and waits,
// all within timeout, until /readyz answers 200 and /version reports
// commit: the app fetched through the SSH connection, from the server's
// side, so no port needs to be open and no curl installed.
func (s *Server) restartAndWait(ctx context.Context, commit string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := service.Ensure(ctx, s.c, s.svc); err != nil {
		return fmt.Errorf("install units on %s: %w", s.Alias, err)
	}
	// Type=notify: restart returns once the app said READY=1, or fails.
	if err := service.Restart(ctx, s.c, s.svc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w within %s: %s still starting", errNotReady, timeout, s.svc.ServiceUnit())
		}
		return fmt.Errorf("%w: %v", errNotReady, err)
	}
	return s.waitReady(ctx, commit, timeout)
}

// waitReady polls /readyz and /version until both say the right thing.
func (s *Server) waitReady(ctx context.Context, commit string, timeout time.Duration) error {
	last := "no answer yet"
	for {
		ok, why := s.ready(ctx, commit)
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w within %s: %s", errNotReady, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ready checks once; why says what is missing.
func (s *Server) ready(ctx context.Context, commit string) (bool, string) {
	addr := s.svc.ListenAddr
	code, body, err := s.c.HTTPGet(ctx, addr, "/readyz")
	if err != nil {
		return false, err.Error()
	}
	if code != 200 {
		return false, fmt.Sprintf("/readyz answered %d: %s", code, remote.Clean(strings.TrimSpace(string(body))))
	}
	v, err := s.serving(ctx)
	if err != nil {
		return false, err.Error()
	}
	if commit != "" && v.Commit != commit {
		return false, fmt.Sprintf("/version reports commit %s, want %s", short(v.Commit), short(commit))
	}
	return true, ""
}

// serving is what the running app's /version says.
func (s *Server) serving(ctx context.Context) (Version, error) {
	code, body, err := s.c.HTTPGet(ctx, s.svc.ListenAddr, "/version")
	if err != nil {
		return Version{}, err
	}
	if code != 200 {
		return Version{}, fmt.Errorf("/version answered %d", code)
	}
	var v version.Info // the app's own type: one schema for /version
	if err := json.Unmarshal(body, &v); err != nil {
		return Version{}, fmt.Errorf("/version: %w", err)
	}
	// JSON's \u001b escapes decode to raw ESC: clean after decoding.
	return Version{Version: remote.Clean(v.Version), Commit: remote.Clean(v.Commit), Go: remote.Clean(v.GoVersion)}, nil
}
