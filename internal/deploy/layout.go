package deploy

import (
	"bytes"
	"context"
	"fmt"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// readStampScript prints DEPLOY_PATH/.slipway, nothing when there is none
// (a server of layout 1).
const readStampScript = `f="$1/` + slipversion.File + `"; [ -e "$f" ] || exit 0; cat "$f"`

// writeStampScript writes DEPLOY_PATH/.slipway atomically (a file beside
// it, then rename), as the SSH user like the other deploy files, and
// leaves an identical one untouched.
const writeStampScript = `set -eu
mkdir -p "$1"
f="$1/` + slipversion.File + `" t="$1/.` + slipversion.File + `.$$"
printf '%s' "$2" > "$t"
if cmp -s "$t" "$f"; then rm -f "$t"; else mv -f "$t" "$f"; echo changed; fi`

// ReadLayout reads the server's stamp (slipversion.Unstamped without one).
func ReadLayout(ctx context.Context, c *remote.Client, svc service.Config) (slipversion.Stamp, error) {
	out, err := c.Run(ctx, "sh -c "+remote.Quote(readStampScript)+" stamp "+remote.Quote(svc.DeployPath), nil)
	if err != nil {
		return slipversion.Stamp{}, fmt.Errorf("read %s/%s: %w", svc.DeployPath, slipversion.File, err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return slipversion.Unstamped(), nil
	}
	return slipversion.Parse(out)
}

// CheckLayout reads the server's stamp and refuses, in one line naming the
// Slipway to use, a layout newer than this Slipway knows. Provision,
// deploy, rollback, restore, backups and env:* call it before changing
// anything.
func CheckLayout(ctx context.Context, c *remote.Client, svc service.Config, host string) (slipversion.Stamp, error) {
	st, err := ReadLayout(ctx, c, svc)
	if err != nil {
		return st, fmt.Errorf("%s: %w", host, err)
	}
	return st, st.Check(host)
}

// StampLayout records this Slipway and its layout in DEPLOY_PATH/.slipway
// (provision and deploy do, once CheckLayout passed) and says whether the
// file changed.
func StampLayout(ctx context.Context, c *remote.Client, svc service.Config) (bool, error) {
	cmd := "sh -c " + remote.Quote(writeStampScript) + " stamp " + remote.Quote(svc.DeployPath) + " " + remote.Quote(string(slipversion.Current().Bytes()))
	out, err := c.Run(ctx, cmd, nil)
	if err != nil {
		return false, fmt.Errorf("write %s/%s: %w: %s", svc.DeployPath, slipversion.File, err, bytes.TrimSpace(out))
	}
	return bytes.Contains(out, []byte("changed")), nil
}
