package deploy

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
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
	// Serving is when the new release was ready to serve (zero when the
	// host already ran it): "deployed in" counts up to the last host's.
	Serving time.Time
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
	// Several hosts: every one reachable, of a layout this Slipway knows
	// and on the same database, before the first changes.
	if err := sameDatabase(ctx, o, nil); err != nil {
		return nil, fmt.Errorf("%w\nnothing changed on any host (%s)", err, strings.Join(o.Hosts, ", "))
	}
	defer o.notified()
	var results []Result
	for i, host := range o.Hosts {
		if len(o.Hosts) > 1 {
			o.printf("==> %s (%d/%d)", host, i+1, len(o.Hosts))
		}
		res, err := deployHost(ctx, o, host, art)
		results = append(results, res)
		o.notify(ctx, "deploy", host, res.Release, res.Version, res.Outcome, err)
		if err != nil {
			if len(o.Hosts) > 1 {
				err = fmt.Errorf("%s\n%w", stoppedAt(o.Hosts, i, "deploy", "on the new release"), err)
			}
			return results, err
		}
	}
	o.printf("deployed in %s (from the command's start to the new release serving)", deployedIn(o.Start, results, time.Now()))
	return results, nil
}

// connect resolves and dials one alias, wraps it with the layout, and
// refuses a server whose layout is newer than this Slipway knows
// (CheckLayout) before anything reads or changes it.
func connect(ctx context.Context, o Options, host string) (*Server, error) {
	s, err := dial(ctx, o, host)
	if err != nil {
		return nil, err
	}
	if s.Stamp, err = CheckLayout(ctx, s.c, s.svc, host); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dial resolves and dials one alias, then wraps it with the layout.
func dial(ctx context.Context, o Options, host string) (*Server, error) {
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
	start := o.Start
	s, err := connect(ctx, o, host)
	if err != nil {
		return res, err
	}
	defer s.Close()
	cfg := s.c.Config()
	o.printf("connected to %s (%s@%s), %s after the command started", host, cfg.User, cfg.Addr(), since(start))

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
	o.step("locked")
	// The first change: from here on the server is this Slipway's layout.
	if _, err := StampLayout(ctx, s.c, s.svc); err != nil {
		return res, err
	}
	// Read again under the lock: another deploy may have just finished.
	if st, err = s.inspect(ctx); err != nil {
		return res, err
	}
	rel, uploaded, err := s.ship(ctx, o, st, art)
	o.step("shipped")
	res.Release, res.Version, res.Uploaded = rel.ID, rel.Version, uploaded
	if uploaded {
		res.Sent = art.Size
	}
	if err != nil {
		return res, err
	}
	if rel.ID == st.Current {
		if live, err := service.InstanceLive(ctx, s.c, s.svc, rel.ID, rel.Version.Commit); err != nil {
			return res, err
		} else if live {
			o.printf("%s already runs release %s, %s, and is ready: nothing to do", host, rel.ID, rel.Version)
			res.Outcome = OutcomeUnchanged
			s.log(ctx, o, fmt.Sprintf("%s result=%s duration=%s", s.logPrefix("deploy", o.Who, rel, art.SHA256), OutcomeUnchanged, since(start)))
			return res, nil
		}
		o.printf("%s is current but not running: starting it", rel.ID)
	}
	bk, err := s.backupBeforeMigrations(ctx, o, st, rel)
	if err != nil {
		res.Outcome = OutcomeFailed
		return res, err
	}
	o.printf("starting %s beside the live release, waiting up to %s for it to be ready with commit %s",
		s.svc.InstanceUnit(rel.ID), o.ReadyTimeout, short(rel.Version.Commit))
	res.Outcome, err = s.handover(ctx, o, rel, s.logPrefix("deploy", o.Who, rel, art.SHA256)+bk)
	res.Serving = s.servingAt
	if err != nil {
		return res, err
	}
	o.printf("%s serves %s (release %s)", host, rel.Version, rel.ID)
	// Prune with the layout as the handover left it.
	if st, err = s.inspect(ctx); err != nil {
		o.printf("warning: prune: %v", err)
		return res, nil
	}
	removed, err := s.prune(ctx, st, o.Keep)
	if err != nil {
		o.printf("warning: prune: %v", err)
	} else if len(removed) > 0 {
		o.printf("removed old releases: %s", strings.Join(removed, " "))
	}
	return res, nil
}

// handover installs changed units and hands the switch to rel over to the
// server (service.Handover), which starts rel beside the live release and
// stops the old one only once rel is ready, or stops rel and changes
// nothing else. It prints the server's steps and returns the outcome; the
// error of a release that never got ready carries its own last log lines
// (of this start only).
func (s *Server) handover(ctx context.Context, o Options, rel Release, logPrefix string) (string, error) {
	return s.handoverTo(ctx, o, rel, service.HandoverRequest{LogLine: logPrefix})
}

// handoverTo is handover with the request's Instance and EnvFile (env:set).
func (s *Server) handoverTo(ctx context.Context, o Options, rel Release, req service.HandoverRequest) (string, error) {
	if _, err := service.Ensure(ctx, s.c, s.svc); err != nil {
		return OutcomeFailed, fmt.Errorf("install units on %s: %w", s.Alias, err)
	}
	if o.Notify != nil {
		// The server's alerts (jobs, backups) post to the same webhook.
		if n, err := service.SyncSettings(ctx, s.c, s.svc, o.Notify.URL(), io.Discard); err != nil {
			o.printf("warning: the server's copy of DEPLOY_NOTIFY_URL on %s: %v", s.Alias, err)
		} else if n > 0 {
			o.printf("server settings: DEPLOY_NOTIFY_URL (%s) updated on %s, for the server's own alerts", o.Notify.Where(), s.Alias)
		}
	}
	o.step("handover")
	req.Release, req.Commit, req.ReadyTimeout, req.Start = rel.ID, rel.Version.Commit, o.ReadyTimeout, o.Start
	unit := s.svc.InstanceUnit(rel.ID)
	if req.Instance != "" {
		unit = s.svc.InstanceUnit(req.Instance)
	}
	called := time.Now()
	h, err := service.Handover(ctx, s.c, s.svc, req)
	if err == nil {
		o.step("switched")
	}
	s.servingAt = time.Time{}
	if err == nil && h.Outcome == OutcomeOK {
		s.servingAt = readyAt(called, time.Now(), h.Steps)
	}
	for _, step := range h.Steps {
		o.printf("  %s", step)
	}
	if err != nil {
		if ctx.Err() != nil {
			return OutcomeFailed, fmt.Errorf("%w: the server finishes the handover to %s on its own (`go run mage.go status` tells how it ended)", ctx.Err(), rel.ID)
		}
		return OutcomeFailed, err
	}
	if h.Outcome == OutcomeOK {
		return OutcomeOK, nil
	}
	return h.Outcome, notReady(rel, s.Alias, unit, h)
}

// notReady is the error of a handover whose new instance never got ready:
// the reason on its first line, then what serves now and the instance's
// last log lines (of this start only).
func notReady(rel Release, host, unit string, h service.HandoverResult) error {
	what := "nothing was serving before it, nothing serves now"
	if kept, ok := strings.CutPrefix(h.Detail, "kept="); ok {
		what = fmt.Sprintf("rolled back: release %s kept serving, it was never stopped; current still names it", kept)
	}
	return fmt.Errorf("release %s (%s) on %s: %w: %s\n%s\nlast log lines of %s (this start):\n%s",
		rel.ID, rel.Version, host, errNotReady, h.Reason, what, unit, indent(strings.Join(h.Logs, "\n")))
}

// logPrefix starts a deploy.log line; the server appends result= and
// duration= when the handover ends, even if this client is gone by then.
func (s *Server) logPrefix(kind, who string, rel Release, sha string) string {
	return fmt.Sprintf("%s %s host=%s by=%s version=%s commit=%s sha256=%s release=%s",
		time.Now().UTC().Format(time.RFC3339), kind, s.Alias, who, orDash(rel.Version.Version), orDash(rel.Version.Commit),
		orDash(sha), orDash(rel.ID))
}

func (s *Server) log(ctx context.Context, o Options, line string) {
	if err := s.appendLog(context.WithoutCancel(ctx), line); err != nil {
		o.printf("warning: could not write deploy.log: %v", err)
	}
}

// since is the duration as deploy.log records it.
func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

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
// handover there could only fail. A server of the layout before instances
// (app.service) passes: its deploy moves it to instances.
func (s *Server) checkProvisioned(ctx context.Context) error {
	unit := path.Join(service.UnitDir, s.svc.TemplateUnit())
	legacy := path.Join(service.UnitDir, s.svc.ServiceUnit())
	out, err := callStep(ctx, s.c, "provisioned", helper.ProvisionedArgs{EnvFile: s.svc.EnvFile(), Units: []string{unit, legacy}})
	if err != nil {
		return fmt.Errorf("check %s as root on %s (deploy needs passwordless sudo): %w", s.svc.EnvFile(), s.Alias, err)
	}
	if strings.TrimSpace(string(out)) != "result ok yes" {
		return fmt.Errorf("%s is not set up for %s (no %s or %s): run `go run mage.go provision` first, then deploy", s.Alias, s.svc.AppName, s.svc.EnvFile(), unit)
	}
	return nil
}

// ship makes sure a release folder holds the binary: the newest one with
// the same sha256 if any (no upload), else a new one, uploaded, verified on
// the server against the local checksum and installed.
func (s *Server) ship(ctx context.Context, o Options, st State, art Artifact) (Release, bool, error) {
	if r, ok := st.BySHA(art.SHA256); ok {
		if err := s.verifyBinary(ctx, r.ID, art.SHA256); err != nil {
			o.printf("warning: %v; uploading this binary as a new release", err)
		} else {
			o.printf("%s already holds this binary as release %s (%s): no upload", s.Alias, r.ID, r.Version)
			// Its jobs and workers, if installed before releases kept them.
			if _, err := callStep(ctx, s.c, "release-procs", helper.ReleaseArgs{DeployPath: s.svc.DeployPath, ID: r.ID}); err != nil {
				return r, false, fmt.Errorf("ask release %s on %s for its jobs: %w", r.ID, s.Alias, err)
			}
			return r, false, nil
		}
	}
	id := ReleaseID(time.Now(), art.SHA256)
	if _, err := callStep(ctx, s.c, "release-dir", helper.DeployPathArgs{DeployPath: s.svc.DeployPath}); err != nil {
		return Release{ID: id}, false, fmt.Errorf("mkdir on %s: %w", s.Alias, err)
	}
	dst := s.path("releases", ".upload-"+id)
	o.printf("uploading %s (%.1f MiB, sha256 %s) to %s:%s", art.Path, mib(art.Size), short(art.SHA256), s.Alias, s.path("releases", id))
	p := newProgress(o)
	half := false
	update := func(sent, total int64) {
		p.update(sent, total)
		if !half && 2*sent >= total {
			half = true
			o.step("uploading")
		}
	}
	if err := s.c.Upload(ctx, art.Path, dst, 0o644, update); err != nil {
		return Release{ID: id}, false, err
	}
	// The server hashes the upload, runs its `version` and makes it a
	// release folder in one rename (helper's release-install).
	out, err := callStep(ctx, s.c, "release-install", helper.ReleaseInstallArgs{DeployPath: s.svc.DeployPath, ID: id, SHA256: art.SHA256})
	if err != nil {
		return Release{ID: id}, true, fmt.Errorf("verify on %s: %w", s.Alias, err)
	}
	rel := Release{ID: id, SHA256: art.SHA256, Version: parseVersion(string(out))}
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
