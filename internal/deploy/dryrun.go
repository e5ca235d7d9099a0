package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/remote"
)

// dryRunPlan prints, for each host, the resolved connection in ssh -G's
// spelling and the steps a deploy would take. It asks the local ssh for the
// resolution and connects nowhere.
func dryRunPlan(ctx context.Context, o Options, art Artifact) error {
	src := remote.ConfigSource{Path: o.SSHConfig, Getenv: o.Getenv}
	dp := o.Service.DeployPath
	if len(o.Hosts) > 1 {
		o.printf("# first: connect to %s, ask each which database its %s reaches (cluster identifier, start time, name); refuse, changing nothing, unless it is the same", strings.Join(o.Hosts, ", "), o.Service.DatabaseURLVar())
	}
	for i, host := range o.Hosts {
		cfg, err := remote.Resolve(ctx, host, src)
		if err != nil {
			return err
		}
		if i > 0 {
			o.printf("")
		}
		o.printf("# %s: resolved with ssh -G (dry run: no connection made)", host)
		fmt.Fprint(o.Stdout, cfg.DryRun())
		id := ReleaseID(timeNow(), art.SHA256)
		steps := []string{
			fmt.Sprintf("connect to %s as %s, host key checked against %s", cfg.Addr(), cfg.User, strings.Join(cfg.UserKnownHostsFiles, " ")),
			fmt.Sprintf("check the server runs %s (%s is %s) and has scp, flock, sha256sum", art.GOARCH, art.Path, art.GOARCH),
			fmt.Sprintf("take the deploy lock %s/.deploy.lock (wait %s)", dp, o.LockWait),
			fmt.Sprintf("if a release holds sha256 %s: reuse it, else upload %s (%.1f MiB) to %s/releases/.upload-%s", short(art.SHA256), art.Path, mib(art.Size), dp, id),
			fmt.Sprintf("verify sha256 on the server, install as %s/releases/%s", dp, id),
			backupStep(o, dp, id),
			fmt.Sprintf("install changed units; hand the switch to a unit on the server (%s), which goes on if this client dies:", o.Service.HandoverUnit()),
			fmt.Sprintf("start %s beside the live release on %s; it accepts nothing before its migrations ran and it is ready (wait up to %s)", o.Service.InstanceUnit(id), o.Service.ListenAddr, o.ReadyTimeout),
			"ready with the new commit (systemd STATUS= of that instance): switch current (previous -> the old release), stop the old instance, it drains",
			"not ready, exited or hung: stop the new instance, the old one never stopped; print its last log lines, fail",
			fmt.Sprintf("keep the last %d releases, append a line to %s/deploy.log (the server does), release the lock", o.Keep, dp),
		}
		if len(o.Hosts) > 1 {
			steps = append(steps, "stop here on failure: the remaining hosts keep their release")
		}
		for n, s := range steps {
			o.printf("# step %d: %s", n+1, s)
		}
	}
	return nil
}
