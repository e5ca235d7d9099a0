package deploy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Result is what a deploy did on one host.
type Result struct {
	Host     string
	Release  string
	Version  Version
	Uploaded bool  // false when the server already held the binary
	Sent     int64 // bytes of the binary sent (0 when not uploaded)
	Outcome  string
}

// Outcomes recorded in deploy.log.
const (
	OutcomeOK         = "ok"
	OutcomeUnchanged  = "unchanged"
	OutcomeRolledBack = "rolled-back"
	OutcomeFailed     = "failed"
)

// Deploy ships the binary to each host in turn, stopping at the first
// failure: a bad release reaches one server, not all of them. With dryRun
// it connects nowhere and prints what it would do.
func Deploy(ctx context.Context, o Options, dryRun bool) ([]Result, error) {
	o = o.withDefaults()
	if err := o.Service.Validate(); err != nil {
		return nil, err
	}
	art, err := LoadArtifact(o.Binary)
	if err != nil {
		return nil, err
	}
	if dryRun {
		return nil, dryRunPlan(ctx, o, art)
	}
	// Resolve every alias first: a typo in the third must not leave the
	// first two deployed and the rest not.
	for _, host := range o.Hosts {
		if _, err := remote.Resolve(ctx, host, remote.ConfigSource{Path: o.SSHConfig, Getenv: o.Getenv}); err != nil {
			return nil, err
		}
	}
	var results []Result
	for i, host := range o.Hosts {
		if len(o.Hosts) > 1 {
			o.printf("==> %s (%d/%d)", host, i+1, len(o.Hosts))
		}
		res, err := deployHost(ctx, o, host, art)
		results = append(results, res)
		if err != nil {
			if rest := o.Hosts[i+1:]; len(rest) > 0 {
				err = fmt.Errorf("%w\nstopped: %s not deployed", err, strings.Join(rest, ", "))
			}
			return results, err
		}
	}
	return results, nil
}

// connect resolves and dials one alias, then wraps it with the layout.
func connect(ctx context.Context, o Options, host string) (*Server, error) {
	c, err := remote.Dial(ctx, remote.Options{
		Alias: host, ConfigPath: o.SSHConfig, Getenv: o.Getenv, Log: o.Log, Stdout: o.Stdout,
	})
	if err != nil {
		return nil, err
	}
	return &Server{Alias: host, c: c, svc: o.Service}, nil
}

// Close closes the connection.
func (s *Server) Close() error { return s.c.Close() }

func deployHost(ctx context.Context, o Options, host string, art Artifact) (Result, error) {
	res := Result{Host: host}
	start := time.Now()
	s, err := connect(ctx, o, host)
	if err != nil {
		return res, err
	}
	defer s.Close()
	cfg := s.c.Config()
	o.printf("connected to %s (%s@%s)", host, cfg.User, cfg.Addr())

	st, err := s.inspect(ctx)
	if err != nil {
		return res, err
	}
	if err := preflight(st, art, host); err != nil {
		return res, err
	}
	if err := s.checkProvisioned(ctx); err != nil {
		return res, err
	}
	lk, err := s.acquireLock(ctx, o.Who, "deploying "+short(art.SHA256), o.LockWait, func(m string) { o.printf("%s", m) })
	if err != nil {
		return res, err
	}
	defer lk.release(context.WithoutCancel(ctx))
	if lk.Stale != "" {
		o.printf("note: the previous deploy died holding the lock (%s); its lock was released by the server", lk.Stale)
	}
	// Read again under the lock: another deploy may have just finished.
	if st, err = s.inspect(ctx); err != nil {
		return res, err
	}
	logLine := func(outcome string, extra ...string) {
		res.Outcome = outcome
		line := fmt.Sprintf("%s deploy host=%s by=%s version=%s commit=%s sha256=%s release=%s result=%s duration=%s",
			time.Now().UTC().Format(time.RFC3339), host, o.Who, orDash(res.Version.Version), orDash(res.Version.Commit),
			art.SHA256, orDash(res.Release), outcome, time.Since(start).Round(100*time.Millisecond))
		if len(extra) > 0 {
			line += " " + strings.Join(extra, " ")
		}
		if err := s.appendLog(context.WithoutCancel(ctx), line); err != nil {
			o.printf("warning: could not write deploy.log: %v", err)
		}
	}

	rel, uploaded, err := s.ship(ctx, o, st, art)
	res.Release, res.Version, res.Uploaded = rel.ID, rel.Version, uploaded
	if uploaded {
		res.Sent = art.Size
	}
	if err != nil {
		return res, err
	}
	if rel.ID == st.Current {
		if ok, _ := s.ready(ctx, rel.Version.Commit); ok {
			o.printf("%s already runs release %s, %s, and is ready: nothing to do", host, rel.ID, rel.Version)
			logLine(OutcomeUnchanged)
			return res, nil
		}
		o.printf("%s is current but not ready: restarting it", rel.ID)
	}

	prev := st.Current
	o.printf("switching %s to %s (previous: %s)", host, rel.ID, orNone(prev))
	if err := s.switchTo(ctx, rel.ID, prev); err != nil {
		return res, err
	}
	o.printf("restarting %s, waiting up to %s for /readyz and commit %s", o.Service.ServiceUnit(), o.ReadyTimeout, short(rel.Version.Commit))
	err = s.restartAndWait(ctx, rel.Version.Commit, o.ReadyTimeout)
	if err != nil {
		return res, s.recover(ctx, o, st, rel, err, logLine)
	}
	o.printf("%s serves %s", host, rel.Version)
	// Prune with the layout as it is now.
	st.Previous, st.Current = prev, rel.ID
	if _, seen := st.Release(rel.ID); !seen {
		st.Releases = append(st.Releases, rel)
	}
	removed, err := s.prune(ctx, st, o.Keep)
	if err != nil {
		o.printf("warning: prune: %v", err)
	} else if len(removed) > 0 {
		o.printf("removed old releases: %s", strings.Join(removed, " "))
	}
	logLine(OutcomeOK)
	return res, nil
}

// recover switches back to the release that was current before a failed
// switch, restarts it, and returns an error with the service's last log
// lines. Without a previous release there is nothing to go back to.
func (s *Server) recover(ctx context.Context, o Options, before State, failed Release, cause error, logLine func(string, ...string)) error {
	ctx = context.WithoutCancel(ctx)
	logs, lerr := service.Logs(ctx, s.c, s.svc, 30)
	if lerr != nil {
		logs = "(no logs: " + lerr.Error() + ")"
	}
	if before.Current == "" || before.Current == failed.ID {
		logLine(OutcomeFailed)
		return fmt.Errorf("release %s on %s: %w\nno earlier release to roll back to; last log lines of %s:\n%s",
			failed.ID, s.Alias, cause, s.svc.ServiceUnit(), indent(logs))
	}
	old, _ := before.Release(before.Current)
	if err := s.verifyBinary(ctx, before.Current, old.SHA256); err != nil {
		logLine(OutcomeFailed, "rollback=refused")
		return fmt.Errorf("release %s on %s: %w\nnot rolled back to %s: %v\nlast log lines of %s:\n%s",
			failed.ID, s.Alias, cause, before.Current, err, s.svc.ServiceUnit(), indent(logs))
	}
	o.printf("release %s failed (%v): rolling back to %s", failed.ID, cause, before.Current)
	if err := s.switchTo(ctx, before.Current, before.Previous); err != nil {
		logLine(OutcomeFailed, "rollback=failed")
		return fmt.Errorf("release %s on %s: %w; ROLLBACK FAILED, switch back to %s: %v\nlast log lines:\n%s", failed.ID, s.Alias, cause, before.Current, err, indent(logs))
	}
	back := "healthy again"
	if err := s.restartAndWait(ctx, old.Version.Commit, o.ReadyTimeout); err != nil {
		back = "BUT IT IS NOT READY EITHER: " + err.Error()
	}
	logLine(OutcomeRolledBack, "rolled_back_to="+before.Current)
	return fmt.Errorf("release %s on %s: %w\nrolled back to %s (%s), %s\nlast log lines of %s:\n%s",
		failed.ID, s.Alias, cause, before.Current, old.Version, back, s.svc.ServiceUnit(), indent(logs))
}

// preflight refuses, before anything is uploaded, a server that can't run
// the binary or lacks the tools deploy uses.
func preflight(st State, art Artifact, host string) error {
	if st.Arch != art.GOARCH {
		return fmt.Errorf("%s runs on %s (uname -m %s) but %s is built for %s: rebuild with `go run mage.go buildApp -goarch=%s`",
			host, orUnknownArch(st.Arch), st.Uname, art.Path, art.GOARCH, orUnknownArch(st.Arch))
	}
	if len(st.Missing) > 0 {
		return fmt.Errorf("%s lacks %s, which deploy needs: install them (Debian: apt-get install openssh-client util-linux coreutils)", host, strings.Join(st.Missing, ", "))
	}
	return nil
}

func orUnknownArch(a string) string {
	if a == "" {
		return "an unsupported architecture"
	}
	return a
}

// checkProvisioned refuses a server the service was never set up on: a
// restart there could only fail after the switch.
func (s *Server) checkProvisioned(ctx context.Context) error {
	unit := path.Join(service.UnitDir, s.svc.ServiceUnit())
	cmd := fmt.Sprintf("test -e %s && test -e %s", remote.Quote(s.svc.EnvFile()), remote.Quote(unit))
	if _, err := s.c.RunRoot(ctx, cmd, nil); err != nil {
		var ee *remote.ExitError
		if errors.As(err, &ee) && ee.Status == 1 {
			return fmt.Errorf("%s is not set up for %s (no %s or %s): run `go run mage.go provision` first, then deploy", s.Alias, s.svc.AppName, s.svc.EnvFile(), unit)
		}
		return fmt.Errorf("check %s as root on %s (deploy needs passwordless sudo): %w", s.svc.EnvFile(), s.Alias, err)
	}
	return nil
}

// installScript verifies an uploaded binary and turns it into a release
// folder in one rename: a release folder is complete or absent.
const installScript = `set -eu
cd "$1/releases"
f=".upload-$2" d=".new-$2"
sum=$(sha256sum "$f" | cut -d' ' -f1)
if [ "$sum" != "$3" ]; then rm -f "$f"; echo "sha256 on the server is $sum, want $3: upload corrupted, removed" >&2; exit 1; fi
chmod 755 "$f"
if ! v=$(./"$f" version 2>&1); then rm -f "$f"; echo "the binary does not run on this server: $v" >&2; exit 1; fi
rm -rf "$d"; mkdir "$d"
mv "$f" "$d/app"
printf '%s  app\n' "$sum" > "$d/app.sha256"
printf '%s\n' "$v" > "$d/app.version"
mv -T "$d" "$2"
printf '%s\n' "$v"`

// ship makes sure a release folder holds the binary: the newest one with
// the same sha256 if any (no upload), else a new one, uploaded, verified on
// the server against the local checksum and installed.
func (s *Server) ship(ctx context.Context, o Options, st State, art Artifact) (Release, bool, error) {
	if r, ok := st.BySHA(art.SHA256); ok {
		if err := s.verifyBinary(ctx, r.ID, art.SHA256); err != nil {
			o.printf("warning: %v; uploading this binary as a new release", err)
		} else {
			o.printf("%s already holds this binary as release %s (%s): no upload", s.Alias, r.ID, r.Version)
			return r, false, nil
		}
	}
	id := ReleaseID(time.Now(), art.SHA256)
	if _, err := s.run(ctx, "mkdir", `mkdir -p "$1/releases"`, s.svc.DeployPath); err != nil {
		return Release{ID: id}, false, err
	}
	dst := s.path("releases", ".upload-"+id)
	o.printf("uploading %s (%.1f MiB, sha256 %s) to %s:%s", art.Path, mib(art.Size), short(art.SHA256), s.Alias, s.path("releases", id))
	p := newProgress(o)
	if err := s.c.Upload(ctx, art.Path, dst, 0o644, p.update); err != nil {
		return Release{ID: id}, false, err
	}
	out, err := s.run(ctx, "verify", installScript, s.svc.DeployPath, id, art.SHA256)
	if err != nil {
		return Release{ID: id}, true, err
	}
	rel := Release{ID: id, SHA256: art.SHA256, Version: parseVersion(out)}
	o.printf("verified sha256 on %s; release %s is %s", s.Alias, id, rel.Version)
	return rel, true, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (empty)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
