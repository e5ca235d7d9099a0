package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFile and LockInfoFile are the deploy lock and who holds it, in
// DEPLOY_PATH. The names, and flock(2) on the first, are those of the
// shell-based Slipway (v0.2.0): an old client and a new one exclude each
// other on a server both deploy to.
const (
	LockFile     = ".deploy.lock"
	LockInfoFile = ".deploy.lock.info"
)

// LockArgs are the lock step's arguments.
type LockArgs struct {
	// DeployPath holds the lock (created when missing).
	DeployPath string `json:"deploy_path"`
	// WaitSeconds is how long to wait for a lock held by another deploy;
	// 0 refuses at once.
	WaitSeconds int `json:"wait_seconds"`
	// Info says who takes the lock ("who what since when"): it goes in
	// LockInfoFile.
	Info string `json:"info"`
	// HandoverUnits is the pattern of the app's handover units
	// (Config.HandoverUnit): one still running owns the switch, so the lock
	// is granted once none is.
	HandoverUnits string `json:"handover_units"`
	// SilenceMillis is how long the holder may stay silent before the lock
	// is given up (0: LockSilence).
	SilenceMillis int `json:"silence_millis,omitempty"`
}

// LockSilence is how long the lock step waits for the next heartbeat: the
// client sends one every few seconds.
const LockSilence = 20 * time.Second

// Heartbeat and LockRelease are what the lock's holder writes on the
// step's stdin: Heartbeat keeps the lock, LockRelease gives it back
// cleanly (the info file goes). Any other byte, stdin closing or silence
// also give it back, but leave the info file: the holder died.
const (
	Heartbeat   = '.'
	LockRelease = 'q'
)

// lockPoll is how often a lock held by another deploy, and a running
// handover, are looked at again.
const lockPoll = 50 * time.Millisecond

func init() {
	Register("lock", false, lockStep)
	Register("lock-status", false, lockStatusStep)
}

// lockStep takes an exclusive flock on DEPLOY_PATH/.deploy.lock and holds
// it while heartbeats arrive on stdin. The lock belongs to this process on
// the server: when the deploy dies, its SSH session ends, stdin closes (or
// the heartbeats stop) and the lock goes with the process. No stale lock
// ever needs cleaning by hand. The info file says who holds it; one left
// behind means a deploy died holding the lock.
//
// Lines: "busy <holder>" when another deploy holds it, "handover" when a
// handover an earlier deploy left is still running (waited for), then
// "locked <stale info>" once held; "result busy <holder>" when the wait
// ran out. Under the lock, before and after, every unfinished upload is
// one that died (only the holder uploads): it is removed.
func lockStep(ctx context.Context, e *Env, a LockArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	if a.HandoverUnits != "" && !strings.HasSuffix(a.HandoverUnits, ".service") {
		return fmt.Errorf("lock: handover units %q: want a pattern like app-handover-*.service", a.HandoverUnits)
	}
	dp := e.Path(a.DeployPath)
	if err := os.MkdirAll(dp, 0o777); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dp, LockFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Closing f (at exit, or here) lets the lock go; the descriptor is
	// close-on-exec, so no program this step runs keeps it.
	defer f.Close()
	infoPath := filepath.Join(dp, LockInfoFile)
	if !tryFlock(f) {
		holder := readInfo(infoPath)
		e.Line("busy", holder)
		deadline := e.Time().Add(time.Duration(a.WaitSeconds) * time.Second)
		for {
			if a.WaitSeconds <= 0 || !e.Time().Before(deadline) {
				e.Result("busy", readInfo(infoPath))
				return ErrFailed
			}
			if err := sleep(ctx, lockPoll); err != nil {
				return err
			}
			if tryFlock(f) {
				break
			}
		}
	}
	stale := readInfo(infoPath)
	if err := os.WriteFile(infoPath, []byte(a.Info+"\n"), 0o666); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if a.HandoverUnits != "" {
		if handoverRunning(ctx, e, a.HandoverUnits) {
			e.Line("handover", "")
			for handoverRunning(ctx, e, a.HandoverUnits) {
				if err := sleep(ctx, lockPoll); err != nil {
					return err
				}
			}
		}
	}
	cleanUploads(dp)
	e.Line("locked", stale)
	silence := LockSilence
	if a.SilenceMillis > 0 {
		silence = time.Duration(a.SilenceMillis) * time.Millisecond
	}
	released := awaitRelease(ctx, e.In, silence)
	cleanUploads(dp)
	if released {
		_ = os.Remove(infoPath)
		e.Result("ok", "released")
		return nil
	}
	e.Result("ok", "given up: the holder went silent")
	return nil
}

// awaitRelease reads heartbeats until the holder releases the lock (true)
// or goes away: stdin ends, another byte, silence, a signal (false).
func awaitRelease(ctx context.Context, in io.Reader, silence time.Duration) bool {
	bytes := make(chan byte)
	go func() {
		defer close(bytes)
		b := make([]byte, 1)
		for {
			if n, err := in.Read(b); n == 1 {
				bytes <- b[0]
			} else if err != nil {
				return
			}
		}
	}()
	t := time.NewTimer(silence)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		case b, ok := <-bytes:
			switch {
			case !ok:
				return false
			case b == LockRelease:
				return true
			case b != Heartbeat:
				return false
			}
			t.Reset(silence)
		}
	}
}

func tryFlock(f *os.File) bool {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err == nil
		}
	}
}

// readInfo is the info file's line, "" without one.
func readInfo(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// handoverRunning reports whether a unit matching pattern is active,
// activating or deactivating. A systemd that can't be asked (a container
// without it, as the shell lock did) has none running.
func handoverRunning(ctx context.Context, e *Env, pattern string) bool {
	if detachStarting(e, pattern, e.Time()) {
		return true
	}
	units, err := e.Sys.List(ctx, pattern)
	if err != nil {
		return false
	}
	for _, u := range units {
		p, err := e.Sys.Show(ctx, u, "ActiveState")
		if err != nil {
			continue
		}
		switch p["ActiveState"] {
		case "active", "activating", "deactivating", "reloading":
			return true
		}
	}
	return false
}

// cleanUploads removes releases/.upload-* and releases/.new-*.
func cleanUploads(dp string) {
	for _, g := range []string{".upload-*", ".new-*"} {
		m, _ := filepath.Glob(filepath.Join(dp, "releases", g))
		for _, p := range m {
			_ = os.RemoveAll(p)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkDeployPath refuses a DEPLOY_PATH that is not a clean absolute path.
func checkDeployPath(p string) error {
	if !cleanAbs(p) {
		return fmt.Errorf("DEPLOY_PATH %q: want an absolute path like /srv/app (set DEPLOY_PATH)", p)
	}
	return nil
}

// checkPath refuses a path (what it is) that is not clean and absolute.
func checkPath(what, p string) error {
	if !cleanAbs(p) {
		return fmt.Errorf("%s %q: want a clean absolute path", what, p)
	}
	return nil
}

func cleanAbs(p string) bool {
	return p != "" && path.IsAbs(p) && path.Clean(p) == p && p != "/" && !strings.ContainsAny(p, "\n\x00")
}

// LockStatusArgs are the lock-status step's arguments.
type LockStatusArgs struct {
	DeployPath string `json:"deploy_path"`
}

// lockStatusStep prints who holds the deploy lock: "held by <info>", or
// "free (the last holder died without releasing: <info>)", or nothing when
// it is free.
func lockStatusStep(_ context.Context, e *Env, a LockStatusArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	dp := e.Path(a.DeployPath)
	f, err := os.OpenFile(filepath.Join(dp, LockFile), os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	info := readInfo(filepath.Join(dp, LockInfoFile))
	if tryFlock(f) {
		if info != "" {
			fmt.Fprintf(e.Out, "free (the last holder died without releasing: %s)\n", info)
		}
		return nil
	}
	fmt.Fprintf(e.Out, "held by %s\n", info)
	return nil
}

// DetachStartGrace bounds how long a detached step's request file alone
// counts as a handover starting: Detach writes it before systemd-run, and
// the unit removes it first thing, so a fresh one is a unit on its way (a
// killed client's helper may still be in systemd-run). One older than this
// is a helper that died before starting its unit.
const DetachStartGrace = 30 * time.Second

// detachStarting reports whether a detached step of a unit matching pattern
// (app-handover-*.service) was requested within DetachStartGrace and its
// unit has not started yet.
func detachStarting(e *Env, pattern string, now time.Time) bool {
	reqs, _ := filepath.Glob(e.Path(DetachDir) + "/" + strings.TrimSuffix(pattern, ".service") + ".request")
	for _, r := range reqs {
		if st, err := os.Stat(r); err == nil && now.Sub(st.ModTime()) < DetachStartGrace {
			return true
		}
	}
	return false
}
