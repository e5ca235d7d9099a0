package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// exitReboot is systemd-nspawn's exit status when the container asked for a
// reboot and nspawn runs with --keep-unit: it expects its service manager to
// start it again, which here is this package.
const exitReboot = 133

// Reboot runs `systemctl reboot` inside and waits until the sandbox is ready
// again, on the same root: systemd-nspawn exits 133 and Reboot starts it
// again, as a service manager would. It needs WithPersistentRoot (a volatile
// root would come back empty) and returns the time from the new nspawn's
// start to ready. The Instance is updated in place (PID, Leader). Only Reboot
// restarts a sandbox: a reboot asked for otherwise (by a test running
// `systemctl reboot` itself) leaves it stopped, until Boot.
func (i *Instance) Reboot(ctx context.Context) (time.Duration, error) {
	if i.state.Root == "" {
		return 0, fmt.Errorf("sandbox %s: Reboot needs a persistent root (sandbox.WithPersistentRoot)", i.Name)
	}
	unlock, err := lockFile(ctx, i.sb.path(lockName))
	if err != nil {
		return 0, err
	}
	defer unlock()
	if !i.running() {
		return 0, fmt.Errorf("sandbox %s: not running (Boot starts it)", i.Name)
	}
	exited := i.sb.exitOf(i.PID)
	// systemctl may lose its connection as the system goes down: the
	// container's exit is what tells.
	_, _ = i.Run(ctx, "systemctl", "reboot")
	if exited != nil {
		select {
		case code := <-exited:
			if code != exitReboot {
				return 0, fmt.Errorf("sandbox %s: systemd-nspawn exited %d after systemctl reboot, want %d:\n%s", i.Name, code, exitReboot, tail(i.sb.path(logFile), 10))
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("sandbox %s: wait for the reboot: %w", i.Name, ctx.Err())
		case <-time.After(2 * time.Minute):
			return 0, fmt.Errorf("sandbox %s: systemd-nspawn still runs 2 minutes after systemctl reboot", i.Name)
		}
	} else if !waitGone(ctx, i.PID, i.state.StartTime, 2*time.Minute) {
		return 0, fmt.Errorf("sandbox %s: systemd-nspawn still runs 2 minutes after systemctl reboot", i.Name)
	}
	return i.bootAgain(ctx)
}

// Crash kills every process of the container at once with SIGKILL: the
// kernel kills the whole PID namespace when its init dies, so nothing of the
// container runs a single instruction more, as in a power cut. Unlike a power
// cut, the host's page cache survives, so what was written but not synced is
// still there: a crash does not test fsync. The root stays (needs
// WithPersistentRoot); Boot starts the sandbox again on it.
func (i *Instance) Crash(ctx context.Context) error {
	if i.state.Root == "" {
		return fmt.Errorf("sandbox %s: Crash needs a persistent root (sandbox.WithPersistentRoot)", i.Name)
	}
	unlock, err := lockFile(ctx, i.sb.path(lockName))
	if err != nil {
		return err
	}
	defer unlock()
	st := i.state
	if !alive(st.Leader, st.LeaderStartTime) {
		return fmt.Errorf("sandbox %s: its init (pid %d) does not run", i.Name, st.Leader)
	}
	if err := syscall.Kill(st.Leader, syscall.SIGKILL); err != nil {
		return fmt.Errorf("sandbox %s: kill init: %w", i.Name, err)
	}
	// nspawn exits when its child dies; SIGKILL it too, in case it hangs.
	_ = syscall.Kill(st.PID, syscall.SIGKILL)
	for _, p := range []struct {
		pid   int
		start uint64
	}{{st.Leader, st.LeaderStartTime}, {st.PID, st.StartTime}} {
		if !waitGone(ctx, p.pid, p.start, 30*time.Second) {
			return fmt.Errorf("sandbox %s: pid %d survives SIGKILL", i.Name, p.pid)
		}
	}
	return nil
}

// Boot starts a crashed (or otherwise stopped) persistent sandbox again on
// its kept root, with the same keys and address, and waits until it is ready
// as Up does. It returns the time from nspawn's start to ready and updates
// the Instance in place.
func (i *Instance) Boot(ctx context.Context) (time.Duration, error) {
	if i.state.Root == "" {
		return 0, fmt.Errorf("sandbox %s: Boot needs a persistent root (sandbox.WithPersistentRoot); Up boots a fresh one", i.Name)
	}
	unlock, err := lockFile(ctx, i.sb.path(lockName))
	if err != nil {
		return 0, err
	}
	defer unlock()
	if i.running() {
		return 0, fmt.Errorf("sandbox %s: still runs (pid %d): Crash or Down it first", i.Name, i.PID)
	}
	return i.bootAgain(ctx)
}

// bootAgain starts nspawn on the kept root and waits for ready; the caller
// holds the instance lock and the previous nspawn is gone.
func (i *Instance) bootAgain(ctx context.Context) (time.Duration, error) {
	if _, err := i.sb.mountRoot(i.state.Base); err != nil {
		return 0, err
	}
	// The kernel tears a dead container's network namespace down in the
	// background: its veth outlives it by a moment, and nspawn would fail
	// to create the new one ("File exists").
	if v := i.state.Veth; v != "" {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := net.InterfaceByName(v); err != nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return 0, fmt.Errorf("sandbox %s: the veth %s of its last boot is still there", i.Name, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start := time.Now()
	if err := i.sb.boot(&i.state); err != nil {
		return 0, err
	}
	i.PID, i.Leader = i.state.PID, 0
	if err := i.sb.save(i.state); err != nil {
		return 0, err
	}
	bootCtx, cancel := context.WithTimeout(ctx, i.sb.bootTimeout)
	defer cancel()
	if err := i.waitReady(bootCtx); err != nil {
		return 0, errors.Join(fmt.Errorf("sandbox %q not ready after a reboot: %w", i.Name, err), errors.New(tail(i.sb.path(logFile), 20)))
	}
	d := time.Since(start)
	i.sb.printf("sandbox %s: booted again in %s (pid %d)", i.Name, d.Round(100*time.Millisecond), i.PID)
	return d, nil
}

// exitOf returns the channel receiving the exit status of the nspawn of pid,
// nil if this process did not start it.
func (s *Sandbox) exitOf(pid int) chan int {
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	return s.exits[pid]
}
