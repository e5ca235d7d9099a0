package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/version"
)

// errNotReady is a release that didn't become ready.
var errNotReady = errors.New("not ready")

// answering is what answers on the shared socket now, through the SSH
// connection from the server's side (no port needs to be open, no curl
// installed): any live instance may take the request. Deploy never decides
// on it; it checks the instance it started (service.Handover).
func (s *Server) answering(ctx context.Context) (Version, string, error) {
	v, err := s.serving(ctx)
	if err != nil {
		return v, "", err
	}
	code, body, err := s.c.HTTPGet(ctx, s.svc.ListenAddr, "/readyz")
	switch {
	case err != nil:
		return v, err.Error(), nil
	case code != 200:
		return v, fmt.Sprintf("/readyz answered %d: %s", code, remote.Clean(strings.TrimSpace(string(body)))), nil
	}
	return v, "", nil
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
