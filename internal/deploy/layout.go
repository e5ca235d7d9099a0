package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// readStampScript prints DEPLOY_PATH/.slipway, nothing when there is none
// (a server of layout 1), then, when the app's units are installed, an
// "installed-at" line: the deploy path its template runs releases from and
// its socket's address.
const readStampScript = `f="$1/` + slipversion.File + `"; [ -e "$f" ] && cat "$f"
u="/etc/systemd/system/$2@.service" s="/etc/systemd/system/$2.socket"
[ -f "$u" ] || exit 0
d=$(sed -n 's|^ExecStart=.* exec \(/[^"]*\)/releases/".*|\1|p' "$u" | head -n 1)
l=$(sed -n 's/^ListenStream=//p' "$s" 2>/dev/null | head -n 1)
printf '\n` + installedMark + `%s %s\n' "${d:--}" "${l:--}"`

// installedMark starts readStampScript's line about the installed units.
const installedMark = "installed-at "

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
	st, _, _, err := readLayout(ctx, c, svc)
	return st, err
}

// readLayout is ReadLayout, plus where the app's installed units run it
// from (deploy path and socket address, "" when not installed).
func readLayout(ctx context.Context, c *remote.Client, svc service.Config) (st slipversion.Stamp, at, listen string, err error) {
	out, err := c.Run(ctx, "sh -c "+remote.Quote(readStampScript)+" stamp "+remote.Quote(svc.DeployPath)+" "+remote.Quote(svc.AppName), nil)
	if err != nil {
		return st, "", "", fmt.Errorf("read %s/%s: %w", svc.DeployPath, slipversion.File, err)
	}
	if i := bytes.LastIndex(out, []byte("\n"+installedMark)); i >= 0 {
		f := strings.Fields(string(out[i+1+len(installedMark):]))
		if len(f) == 2 {
			at, listen = strings.TrimPrefix(f[0], "-"), strings.TrimPrefix(f[1], "-")
		}
		out = out[:i]
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return slipversion.Unstamped(), at, listen, nil
	}
	st, err = slipversion.Parse(out)
	return st, at, listen, err
}

// CheckLayout reads the server's stamp and refuses, in one line, a layout
// newer than this Slipway knows (naming the Slipway to use), a DEPLOY_PATH
// stamped as another app's, and an app of an earlier Slipway installed at
// the old shared default /home/admin that the new per-app default
// (/srv/<name>) would leave behind. Provision, deploy, rollback, restore,
// backups and env:* call it before changing anything.
func CheckLayout(ctx context.Context, c *remote.Client, svc service.Config, host string) (slipversion.Stamp, error) {
	st, at, listen, err := readLayout(ctx, c, svc)
	if err != nil {
		return st, fmt.Errorf("%s: %w", host, err)
	}
	if err := st.Check(host); err != nil {
		return st, err
	}
	if err := st.CheckApp(host, svc.AppName, svc.DeployPath); err != nil {
		return st, err
	}
	old := service.DefaultConfig()
	if at == old.DeployPath && svc.DeployPath == service.DefaultsFor(svc.AppName).DeployPath && svc.DeployPath != at {
		return st, fmt.Errorf("%s: APP_NAME=%s runs from DEPLOY_PATH=%s on this server (an earlier Slipway's default for every name): set DEPLOY_PATH=%s and APP_LISTEN=%s to keep it there",
			host, svc.AppName, at, at, orDefault(listen, old.ListenAddr))
	}
	return st, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// stampOf is the stamp this Slipway writes for svc: its app named.
func stampOf(svc service.Config) slipversion.Stamp {
	st := slipversion.Current()
	st.App = svc.AppName
	return st
}

// StampLayout records this Slipway and its layout in DEPLOY_PATH/.slipway
// (provision and deploy do, once CheckLayout passed) and says whether the
// file changed.
func StampLayout(ctx context.Context, c *remote.Client, svc service.Config) (bool, error) {
	cmd := "sh -c " + remote.Quote(writeStampScript) + " stamp " + remote.Quote(svc.DeployPath) + " " + remote.Quote(string(stampOf(svc).Bytes()))
	out, err := c.Run(ctx, cmd, nil)
	if err != nil {
		return false, fmt.Errorf("write %s/%s: %w: %s", svc.DeployPath, slipversion.File, err, bytes.TrimSpace(out))
	}
	return bytes.Contains(out, []byte("changed")), nil
}
