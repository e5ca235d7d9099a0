package helper

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The release switch, written once: the handover (a deploy, env:set, a
// rollback) and restore's swap both read and switch the current and
// previous links, start an instance and wait for its READY=1, and undo
// with the same functions.

// legacyUnitDir is where systemd's unit files for the app live; the old
// layout's single service is one of them.
const legacyUnitDir = "/etc/systemd/system"

var (
	appRE     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	releaseRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)
	absRE     = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
)

func checkApp(app string) error {
	if !appRE.MatchString(app) {
		return fmt.Errorf("app %q: want lower-case letters, digits, - and _ (APP_NAME)", app)
	}
	return nil
}

func checkRelease(what, id string) error {
	if !releaseRE.MatchString(id) {
		return fmt.Errorf("%s %q: want letters, digits, ., _ and -", what, id)
	}
	return nil
}

func checkAbsPath(what, p string) error {
	if !absRE.MatchString(p) || path.Clean(p) != p {
		return fmt.Errorf("%s %q: want a clean absolute path of letters, digits, ., _ and -", what, p)
	}
	return nil
}

// switcher switches one app's release on a server.
type switcher struct {
	e   *Env
	app string
	dp  string // DEPLOY_PATH as on the server
	h0  time.Time
}

func newSwitcher(e *Env, app, dp string) *switcher {
	return &switcher{e: e, app: app, dp: dp, h0: e.Time()}
}

// stepMS is step with the milliseconds since the switch began: the
// client reads the moment a release became ready from it.
func (s *switcher) stepMS(format string, args ...any) {
	d := s.e.Time().Sub(s.h0).Milliseconds()
	s.e.Line("step", fmt.Sprintf("[%d.%03ds] ", d/1000, d%1000)+fmt.Sprintf(format, args...))
}

// step prints a step line with the tenths of seconds since the switch began.
func (s *switcher) step(format string, args ...any) {
	d := s.e.Time().Sub(s.h0) / (100 * time.Millisecond)
	s.e.Line("step", fmt.Sprintf("[%d.%ds] ", d/10, d%10)+fmt.Sprintf(format, args...))
}

func (s *switcher) path(name string) string { return s.e.Path(s.dp + "/" + name) }

func (s *switcher) instance(name string) string { return s.app + "@" + name + ".service" }

// rel is the release a link (current, previous) names, "" without one.
func (s *switcher) rel(link string) string {
	r, err := os.Readlink(s.path(link))
	if err != nil {
		return ""
	}
	return path.Base(r)
}

// hasRelease reports whether releases/<id>/app is an executable file.
func (s *switcher) hasRelease(id string) bool {
	st, err := os.Stat(s.path("releases/" + id + "/app"))
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// owner is the releases folder's owner: links and deploy.log stay the
// deploy user's.
func (s *switcher) owner() (int, int, bool) {
	st, err := os.Stat(s.path("releases"))
	if err != nil {
		return 0, 0, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(sys.Uid), int(sys.Gid), true
}

// link points name at releases/<release> by a rename: there is no moment
// without the link.
func (s *switcher) link(name, release string) error {
	tmp := s.path(name + ".tmp-" + strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink("releases/"+release, tmp); err != nil {
		return err
	}
	if uid, gid, ok := s.owner(); ok {
		if err := os.Lchown(tmp, uid, gid); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, s.path(name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// setLinks makes current name cur and previous prev ("" removes it). Each
// state between the renames is valid: previous never equals current.
func (s *switcher) setLinks(cur, prev string) error {
	if prev == cur {
		prev = ""
	}
	if s.rel("previous") == cur || prev == "" {
		if err := os.Remove(s.path("previous")); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s/previous: %w", s.dp, err)
		}
	}
	if err := s.link("current", cur); err != nil {
		return fmt.Errorf("switching %s/current failed: %w", s.dp, err)
	}
	if prev != "" {
		if err := s.link("previous", prev); err != nil {
			return fmt.Errorf("switching %s/previous failed: %w", s.dp, err)
		}
	}
	return nil
}

// appendLog appends line to deploy.log, the deploy user's file.
func (s *switcher) appendLog(line string) {
	name := s.path("deploy.log")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.e.Line("log", "deploy.log: "+err.Error())
		return
	}
	f.WriteString(oneLine(line) + "\n")
	f.Close()
	if uid, gid, ok := s.owner(); ok {
		os.Chown(name, uid, gid)
	}
}

func (s *switcher) state(ctx context.Context, unit, prop string) string {
	p, err := s.e.Sys.Show(ctx, unit, prop)
	if err != nil {
		return ""
	}
	return p[prop]
}

// started is what startReady leaves for the undo: the instance's
// invocation and when it began.
type started struct {
	unit string
	inv  string
	at   time.Time
}

// startReady starts unit (if it does not run yet) and waits, polling its
// state every FollowPoll, for READY=1 (active/running) and a STATUS=
// holding commit=<commit> ("" accepts any). It returns the unit's STATUS=
// text, or why it is not ready: then the unit may still run, and fail
// stops it.
func (s *switcher) startReady(ctx context.Context, unit string, tmo time.Duration, commit string, st *started) (status, why string) {
	st.unit, st.at = unit, s.e.Time()
	sysctx := context.WithoutCancel(ctx)
	if s.state(sysctx, unit, "ActiveState") == "active" {
		s.step("%s already runs", unit)
	} else {
		_ = s.e.Sys.ResetFailed(sysctx, unit)
		before := s.state(sysctx, unit, "InvocationID")
		st.at = s.e.Time()
		if err := s.e.Sys.Start(sysctx, unit, false); err != nil {
			return "", fmt.Sprintf("systemctl start %s failed: %v", unit, err)
		}
		end := st.at.Add(tmo)
		t := time.NewTicker(FollowPoll)
		defer t.Stop()
		for {
			// One read: two would race the state they describe.
			p, err := s.e.Sys.Show(sysctx, unit, "ActiveState", "SubState", "InvocationID")
			if err != nil {
				return "", err.Error()
			}
			state := p["ActiveState"] + "/" + p["SubState"]
			if p["InvocationID"] != before {
				st.inv = p["InvocationID"]
				switch state {
				case "active/running":
				case "activating/start", "activating/start-pre", "activating/start-post", "activating/running":
				default:
					return "", fmt.Sprintf("%s ended before it was ready (%s)", unit, state)
				}
				if state == "active/running" {
					break
				}
			}
			if !s.e.Time().Before(end) {
				return "", fmt.Sprintf("%s not ready within %s (%s): stopped", unit, secs(tmo), state)
			}
			select {
			case <-ctx.Done():
				return "", fmt.Sprintf("%s not ready when the switch ran out of time (%s): stopped", unit, state)
			case <-t.C:
			}
		}
	}
	status = s.state(sysctx, unit, "StatusText")
	if commit != "" && !strings.Contains(" "+status+" ", " commit="+commit+" ") {
		return status, fmt.Sprintf("%s reports %q, want commit=%s", unit, status, commit)
	}
	return status, ""
}

func secs(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// stopFailed stops the instance that did not get ready and prints its last
// journal lines as "log ..." lines.
func (s *switcher) stopFailed(ctx context.Context, st *started) {
	ctx = context.WithoutCancel(ctx)
	inv := st.inv
	if inv == "" {
		inv = s.state(ctx, st.unit, "InvocationID")
	}
	_ = s.e.Sys.Stop(ctx, st.unit)
	_ = s.e.Sys.ResetFailed(ctx, st.unit)
	if inv == "" {
		return
	}
	// journald may still be reading an instance that failed at once: read
	// until two reads agree, up to 5 s (measured with the shell handover: the
	// failing file's line was missing now and then under load).
	var lines []string
	prev := []string{"x"}
	for i := 0; i < 20; i++ {
		lines, _ = s.e.Sys.Journal(ctx, []string{"_SYSTEMD_INVOCATION_ID=" + inv}, 25, time.Time{})
		if len(lines) > 0 && strings.Join(lines, "\n") == strings.Join(prev, "\n") {
			break
		}
		prev = lines
		time.Sleep(250 * time.Millisecond)
	}
	if len(lines) == 0 {
		// A process that exits at once can beat journald to its own lines,
		// which then carry no invocation ID: the unit's lines since this start.
		lines, _ = s.e.Sys.Journal(ctx, []string{"-u", st.unit}, 25, st.at.Truncate(time.Second))
	}
	for _, l := range lines {
		s.e.Line("log", l)
	}
}

// liveOf is the live instance of release: its own or a later generation's,
// other than skip.
func (s *switcher) liveOf(ctx context.Context, release, skip string) string {
	units := []string{s.instance(release)}
	gens, _ := s.e.Sys.List(ctx, s.app+"@"+release+".g*.service")
	for _, u := range append(units, gens...) {
		if u != skip && s.state(ctx, u, "ActiveState") == "active" {
			return u
		}
	}
	return ""
}

// legacy is the old layout's single service unit file.
func (s *switcher) legacy() string { return s.e.Path(legacyUnitDir + "/" + s.app + ".service") }

func lexists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// retireLegacy stops and removes the old layout's single service.
func (s *switcher) retireLegacy(ctx context.Context) {
	if !lexists(s.legacy()) {
		return
	}
	svc := s.app + ".service"
	_ = s.e.Sys.Disable(ctx, svc)
	_ = s.e.Sys.Stop(ctx, svc)
	os.Remove(s.legacy())
	_ = s.e.Sys.DaemonReload(ctx)
	s.step("retired %s (the layout before instances)", svc)
}

// stopLeftovers stops every instance but keep: one is live.
func (s *switcher) stopLeftovers(ctx context.Context, keep string) {
	units, _ := s.e.Sys.List(ctx, s.app+"@*.service")
	for _, u := range units {
		if u == keep {
			continue
		}
		if s.state(ctx, u, "ActiveState") != "inactive" {
			s.step("stopping leftover %s", u)
			_ = s.e.Sys.Stop(ctx, u)
		}
		_ = s.e.Sys.ResetFailed(ctx, u)
	}
}

// anchor enables and starts the socket's own service: active, so traffic
// never activates anything, and it starts the current release at boot.
func (s *switcher) anchor(ctx context.Context) {
	cur := s.app + "-current.service"
	if err := s.e.Sys.Enable(ctx, cur); err != nil {
		s.step("enabling %s failed: %v", cur, err)
		return
	}
	if err := s.e.Sys.Start(ctx, cur, true); err != nil {
		s.step("starting %s failed: %v", cur, err)
	}
}

// sameDir reports whether a and b are in one folder.
func sameDir(a, b string) bool { return filepath.Dir(a) == filepath.Dir(b) }
