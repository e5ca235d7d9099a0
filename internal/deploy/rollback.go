package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// timeNow is time.Now; a variable only so the dry run reads like the real thing.
var timeNow = time.Now

// Rollback switches each host to its previous release (or the one named,
// by id or unique prefix) the way a deploy does: the target starts beside
// the live release and replaces it only once ready; a target that never
// gets ready is stopped and the live one keeps serving.
//
// A target with migrations the database lacks moves the schema forward:
// after a restore, previous is the release whose migrations the restore
// took back. Rollback to previous refuses it, naming the migrations; a
// release named explicitly goes the deploy's way, backed up first.
//
// With several hosts every one is checked before the first switches, and
// every host goes to one build: the first host's target (its previous, or
// the release named there), found on each other host by its sha256 (their
// release ids differ, and after a deploy that stopped half way so do their
// previous). A host that lacks it refuses the rollback; one that runs it
// already is left as it is.
func Rollback(ctx context.Context, o Options, release string) error {
	o = o.withDefaults()
	if err := o.Service.Validate(); err != nil {
		return err
	}
	// Several hosts: each reachable, on the same database, and its target
	// checked, before the first switches.
	sha := ""
	if err := sameDatabase(ctx, o, func(s *Server) error {
		t, err := s.checkRollback(ctx, release, sha)
		if sha == "" {
			sha = t.SHA256
		}
		return err
	}); err != nil {
		return fmt.Errorf("%w\nstopped: no host rolled back", err)
	}
	defer o.notified()
	sha = ""
	for i, host := range o.Hosts {
		if len(o.Hosts) > 1 {
			o.printf("==> %s (%d/%d)", host, i+1, len(o.Hosts))
		}
		target, outcome, err := rollbackHost(ctx, o, host, release, sha)
		o.notify(ctx, "rollback", host, target.ID, target.Version, outcome, err)
		if err != nil {
			if len(o.Hosts) > 1 {
				err = fmt.Errorf("%s\n%w", stoppedAt(o.Hosts, i, "rollback", "rolled back"), err)
			}
			return err
		}
		sha = target.SHA256
	}
	return nil
}

// checkRollback is rollbackHost's checks without the lock or the switch:
// the target it would pick.
func (s *Server) checkRollback(ctx context.Context, release, sha string) (Release, error) {
	st, err := s.inspect(ctx)
	if err != nil {
		return Release{}, err
	}
	t, _, err := s.rollbackTarget(ctx, st, release, sha)
	return t, err
}

// rollbackTarget picks the target (the release holding the build sha,
// when set: the first host's of several), checks its binary and, for a
// target not named, refuses migrations it would apply.
func (s *Server) rollbackTarget(ctx context.Context, st State, release, sha string) (Release, pending, error) {
	target, err := pickTarget(st, release, s.Alias)
	if sha != "" {
		var ok bool
		if target, ok = st.BySHA(sha); !ok {
			return target, pending{}, fmt.Errorf("%s does not hold the build the first host rolls back to (sha256 %s): deploy that build there first, or roll back each host by itself (DEPLOY_HOST=%s)", s.Alias, short(sha), s.Alias)
		}
		err = nil
	}
	if err != nil {
		return Release{}, pending{}, err
	}
	if err := s.verifyBinary(ctx, target.ID, target.SHA256); err != nil {
		return target, pending{}, err
	}
	p := s.pendingMigrations(ctx, target)
	if release == "" && p.err == nil && p.Pending > 0 {
		return target, p, fmt.Errorf("%s: not rolled back: previous release %s (%s) would apply %s to the database (at version %d: a restore or a migrate down took it back); to apply it, name the release: `go run mage.go rollback -release=%s` (a backup is taken first)",
			s.Alias, target.ID, target.Version, strings.Join(p.PendingFiles, ", "), p.Applied, target.ID)
	}
	return target, p, nil
}

// rollbackHost returns the release it rolled back to (once known) and the
// handover's outcome; sha, when set, is the build to roll back to.
func rollbackHost(ctx context.Context, o Options, host, release, sha string) (Release, string, error) {
	s, err := connect(ctx, o, host)
	if err != nil {
		return Release{}, "", err
	}
	defer s.Close()
	lk, err := s.acquireLock(ctx, o.Who, "rolling back", o.LockWait, func(m string) { o.printf("%s", m) })
	if err != nil {
		return Release{}, "", err
	}
	defer lk.release(context.WithoutCancel(ctx))
	st, err := s.inspect(ctx)
	if err != nil {
		return Release{}, "", err
	}
	target, p, err := s.rollbackTarget(ctx, st, release, sha)
	if err != nil {
		return target, "", err
	}
	if target.ID == st.Current {
		o.printf("%s already runs release %s (%s), the build the first host rolled back to: nothing to do", host, target.ID, target.Version)
		return target, OutcomeUnchanged, nil
	}
	// Its jobs and workers, if it was installed before releases kept them:
	// the timers then follow it instead of running `app job` on a binary
	// without jobs.
	if _, err := callStep(ctx, s.c, "release-procs", helper.ReleaseArgs{DeployPath: s.svc.DeployPath, ID: target.ID}); err != nil {
		return target, OutcomeFailed, fmt.Errorf("ask release %s on %s for its jobs: %w", target.ID, s.Alias, err)
	}
	bk, err := s.backupIfPending(ctx, o, st, target, p, "rolled back")
	if err != nil {
		return target, OutcomeFailed, err
	}
	from, _ := st.Release(st.Current)
	o.printf("rolling %s back from %s (%s) to %s (%s): starting it beside the live one", host, orNone(st.Current), from.Version, target.ID, target.Version)
	prefix := s.logPrefix("rollback", o.Who, target, target.SHA256) + " from=" + orDash(st.Current) + bk
	outcome, err := s.handover(ctx, o, target, prefix)
	if err != nil {
		return target, outcome, err
	}
	o.printf("%s serves %s (release %s)", host, target.Version, target.ID)
	return target, outcome, nil
}

// pickTarget is the named release, or previous.
func pickTarget(st State, name, host string) (Release, error) {
	if name == "" {
		if st.Previous == "" || st.Previous == st.Current {
			return Release{}, fmt.Errorf("%s has no previous release to roll back to: name one with -release=<id> (see `go run mage.go status`)", host)
		}
		r, ok := st.Release(st.Previous)
		if !ok {
			return Release{}, fmt.Errorf("%s: previous release %s is gone from disk: name another with -release=<id>", host, st.Previous)
		}
		return r, nil
	}
	var found []Release
	for _, r := range st.Releases {
		if strings.HasPrefix(r.ID, name) {
			found = append(found, r)
		}
	}
	var ids []string
	for _, r := range st.Releases {
		ids = append(ids, r.ID)
	}
	switch {
	case len(found) == 0:
		return Release{}, fmt.Errorf("%s has no release %q: it holds %s", host, name, strings.Join(ids, ", "))
	case len(found) > 1:
		return Release{}, fmt.Errorf("%s: %q names %d releases: give more of the id", host, name, len(found))
	case found[0].ID == st.Current:
		return Release{}, fmt.Errorf("%s: release %s is already current", host, found[0].ID)
	}
	return found[0], nil
}
