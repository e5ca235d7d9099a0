package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Down stops the instance and checks it left nothing behind: no process, no
// mount, no listening port. It is a no-op when the instance is not running.
func (s *Sandbox) Down(ctx context.Context) error {
	if err := CheckPrereqs(); err != nil {
		return err
	}
	if _, err := os.Stat(s.Dir()); errors.Is(err, os.ErrNotExist) {
		s.printf("sandbox %s: not running", s.name)
		return nil
	}
	unlock, err := lockFile(ctx, s.path(lockName))
	if err != nil {
		return err
	}
	defer unlock()
	inst, err := s.load()
	if errors.Is(err, os.ErrNotExist) {
		s.printf("sandbox %s: not running", s.name)
		s.clean()
		return nil
	}
	if err != nil {
		return err
	}
	if err := inst.stop(ctx); err != nil {
		return err
	}
	s.clean()
	s.printf("sandbox %s: down (pid %d stopped)", s.name, inst.PID)
	return nil
}

// stop ends the container by the pid we started: SIGTERM makes nspawn shut
// the container down cleanly; if that hangs, SIGKILL on the container's init
// ends its whole pid namespace, then nspawn itself.
func (i *Instance) stop(ctx context.Context) error {
	st := i.state
	if alive(st.PID, st.StartTime) {
		if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop sandbox pid %d: %w", st.PID, err)
		}
		if !waitGone(ctx, st.PID, st.StartTime, time.Minute) {
			i.sb.printf("sandbox %s: pid %d did not shut down in time, killing it", i.sb.name, st.PID)
		}
	}
	for _, p := range []struct {
		pid   int
		start uint64
	}{{st.Leader, st.LeaderStartTime}, {st.PID, st.StartTime}} {
		if alive(p.pid, p.start) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
			if !waitGone(ctx, p.pid, p.start, 10*time.Second) {
				return fmt.Errorf("sandbox pid %d survives SIGKILL", p.pid)
			}
		}
	}
	if err := i.sb.unmountRoot(); err != nil {
		return err
	}
	return i.checkNothingLeft(ctx)
}

// checkNothingLeft verifies what down promises. The container's mounts live
// in its own mount namespace, so any host mount under its dirs is a bug.
func (i *Instance) checkNothingLeft(ctx context.Context) error {
	for _, dir := range []string{i.Dir, i.state.Base} {
		if dir == "" {
			continue
		}
		m, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(m) > 0 {
			return fmt.Errorf("sandbox stopped but left mounts: %v", m)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	if i.state.Veth != "" {
		// A private sandbox's sshd was in its own namespace; its veth
		// goes with the namespace.
		for {
			if _, err := net.InterfaceByName(i.state.Veth); err != nil {
				return nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("sandbox stopped but its veth %s is still there", i.state.Veth)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if i.state.Port == 0 || i.Host != "127.0.0.1" {
		return nil
	}
	for !portFree(i.state.Port) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("sandbox stopped but 127.0.0.1:%d is still in use", i.state.Port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// waitGone polls until the process is gone (or a zombie), at most d.
func waitGone(ctx context.Context, pid int, start uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid, start) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// clean removes the state of a stopped instance: secrets and keys included,
// and a persistent root's layers once it is unmounted (never through a
// mount). The boot log and the lock file stay, for post-mortems and lockers.
func (s *Sandbox) clean() {
	for _, name := range []string{stateFile, keyFile, keyFile + ".pub", knownHostsFile, configFile, dbPasswordFile, injectDir} {
		_ = os.RemoveAll(s.path(name))
	}
	if s.unmountRoot() != nil {
		return
	}
	if m, err := mountsUnder(s.path(rootDir)); err != nil || len(m) > 0 {
		return
	}
	for _, name := range []string{rootDir, upperDir, workDir} {
		_ = os.RemoveAll(s.path(name))
	}
}
