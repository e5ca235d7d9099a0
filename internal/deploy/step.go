package deploy

import (
	"context"
	"errors"
	"strings"

	hclient "github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
)

// callStep runs a slipway-helper step on the server (hclient.Call). A step
// that fails says why in its last line, "result failed <why>": that is the
// error then, cleaned of control bytes (the server's text), in place of
// the exit status.
func callStep(ctx context.Context, r hclient.Runner, step string, args any) ([]byte, error) {
	out, err := hclient.Call(ctx, r, step, args)
	if err == nil {
		return out, nil
	}
	why, failed := strings.CutPrefix(hclient.Result(out), "failed ")
	if !failed || why == "" {
		return out, err
	}
	return out, errors.New(remote.Clean(why))
}
