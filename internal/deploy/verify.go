package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
)

// verifyBinary hashes releases/<id>/app on the server and compares it with
// want. The release's app.sha256 is a text file beside the binary, written
// once at install: trusting it would redeploy (or roll back to) a binary
// that changed since, as long as nobody touched the text file.
func (s *Server) verifyBinary(ctx context.Context, id, want string) error {
	out, err := callStep(ctx, s.c, "release-sha256", helper.ReleaseArgs{DeployPath: s.svc.DeployPath, ID: id})
	if err != nil {
		return fmt.Errorf("hash release %s on %s: %w", id, s.Alias, err)
	}
	got := strings.TrimPrefix(strings.TrimSpace(string(out)), "sha256 ")
	if got != want {
		return fmt.Errorf("release %s on %s: its binary changed since it was installed (sha256 %s, recorded %s): remove %s and deploy a build you trust",
			id, s.Alias, short(got), short(want), s.path("releases", id))
	}
	return nil
}
