package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// installedMark starts layout-read's line about the installed units.
const installedMark = helper.InstalledMark

// ReadLayout reads the server's stamp (slipversion.Unstamped without one).
func ReadLayout(ctx context.Context, c *remote.Client, svc service.Config) (slipversion.Stamp, error) {
	st, _, _, err := readLayout(ctx, c, svc)
	return st, err
}

// readLayout is ReadLayout, plus where the app's installed units run it
// from (deploy path and socket address, "" when not installed).
func readLayout(ctx context.Context, c *remote.Client, svc service.Config) (st slipversion.Stamp, at, listen string, err error) {
	// layout-read prints the stamp, then, when the app's units are
	// installed, an "installed-at" line: the deploy path its template runs
	// releases from and its socket's address.
	out, err := callStep(ctx, c, "layout-read", helper.LayoutArgs{DeployPath: svc.DeployPath, AppName: svc.AppName, UnitDir: service.UnitDir})
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
	// layout-write writes it atomically (a file beside it, then rename),
	// as the SSH user like the other deploy files, and leaves an identical
	// one untouched.
	out, err := callStep(ctx, c, "layout-write", helper.LayoutWriteArgs{DeployPath: svc.DeployPath, Stamp: string(stampOf(svc).Bytes())})
	if err != nil {
		return false, fmt.Errorf("write %s/%s: %w", svc.DeployPath, slipversion.File, err)
	}
	return strings.TrimSpace(string(out)) == "result ok changed", nil
}
