package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// UnitHelper stands for the helper's own path in the unit files Slipway
// renders (the ExecStart of <app>@.service and <app>-current.service):
// ensure-units puts the path of the helper that installs them in its place,
// so a unit runs the helper of the Slipway that wrote it.
const UnitHelper = "@SLIPWAY_HELPER@"

// unitCommands are what units run: `slipway-helper <command> <word>...`,
// argv only (a unit has no stdin of its own to carry a request), and
// nothing secret in it.
var unitCommands = map[string]func(ctx context.Context, e *Env, args []string) error{
	"serve-release": serveRelease,
	"start-current": startCurrent,
}

// serveRelease is <app>@.service's ExecStart: `serve-release <releases dir>
// <instance>`. The instance is the release id, or the release id and a
// generation (<release>.g<n>, env:set's second instance of the live
// release); the release's app replaces the helper (same PID, so systemd's
// NotifyAccess=main holds) as `<releases dir>/<release>/app serve`, with
// SLIPWAY_RELEASE set to the release.
func serveRelease(_ context.Context, e *Env, args []string) error {
	if len(args) != 2 || !path.IsAbs(args[0]) || path.Clean(args[0]) != args[0] {
		return errors.New("usage: slipway-helper serve-release <releases dir> <instance>")
	}
	rel := ReleaseOfInstance(args[1])
	if !releaseIDRE.MatchString(rel) || strings.HasPrefix(rel, ".") {
		return fmt.Errorf("instance %q names no release: want <release id> or <release id>.g<n>", args[1])
	}
	bin := path.Join(args[0], rel, "app")
	env := append(withoutVar(os.Environ(), "SLIPWAY_RELEASE"), "SLIPWAY_RELEASE="+rel)
	if e.exec != nil {
		return e.exec(e.Path(bin), []string{bin, "serve"}, env)
	}
	return syscall.Exec(bin, []string{bin, "serve"}, env)
}

// startCurrent is <app>-current.service's ExecStart: `start-current
// <current link> <app>`. It asks systemd (without waiting) for the instance
// of the release the link names; no link, no release yet: nothing to start.
func startCurrent(ctx context.Context, e *Env, args []string) error {
	if len(args) != 2 || !path.IsAbs(args[0]) || !appName.MatchString(args[1]) {
		return errors.New("usage: slipway-helper start-current <current link> <app name>")
	}
	target, err := os.Readlink(e.Path(args[0]))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	rel := filepath.Base(target)
	if !releaseIDRE.MatchString(rel) {
		return fmt.Errorf("%s points at %q, which is no release", args[0], target)
	}
	if err := e.Sys.Start(ctx, args[1]+"@"+rel+".service", false); err != nil {
		return err
	}
	// The release's workers too (issue 31): their units are on disk since
	// the switch to it; none is enabled.
	p, ok, err := readProcs(e, path.Join(path.Dir(args[0]), "releases"), rel)
	if err != nil || !ok {
		return err
	}
	for _, w := range p.Workers {
		for i := 1; i <= w.Instances; i++ {
			if err := e.Sys.Start(ctx, WorkerUnit(args[1], w.Name, rel, i), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReleaseOfInstance is the release an instance name runs: the name without
// its generation suffix (.g<n>, n ≥ 1; SplitInstance).
func ReleaseOfInstance(name string) string {
	rel, _ := SplitInstance(name)
	return rel
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// templateDeployPaths find the deploy path in an <app>@.service's
// ExecStart: as this Slipway writes it (`<helper> serve-release
// <deploy path>/releases %i`) and as the shell-based one did (`... exec
// <deploy path>/releases/"...`).
var templateDeployPaths = []*regexp.Regexp{
	regexp.MustCompile(`^ExecStart=\S+ serve-release (/\S+)/releases %i$`),
	regexp.MustCompile(`^ExecStart=.* exec (/[^"]*)/releases/".*`),
}

// templateDeployPath is the deploy path an ExecStart line of an
// <app>@.service runs releases from.
func templateDeployPath(line string) (string, bool) {
	for _, re := range templateDeployPaths {
		if m := re.FindStringSubmatch(line); m != nil {
			return m[1], true
		}
	}
	return "", false
}
