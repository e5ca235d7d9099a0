package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/freeport"
)

// Up boots the instance and waits until it is ready: multi-user.target
// reached with no failed unit, PostgreSQL answering, sshd accepting admin's
// key. If the instance already runs and answers over ssh, Up returns it
// unchanged. The container outlives the caller (unless WithStopOnExit).
func (s *Sandbox) Up(ctx context.Context) (*Instance, error) {
	if err := CheckPrereqs(); err != nil {
		return nil, err
	}
	// nspawn's --bind-ro takes "src:dst" lists.
	if strings.ContainsAny(s.Dir(), ":,") {
		return nil, fmt.Errorf("sandbox state dir %q: must not contain ':' or ','", s.Dir())
	}
	if err := os.MkdirAll(s.Dir(), 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	unlock, err := lockFile(ctx, s.path(lockName))
	if err != nil {
		return nil, err
	}
	defer unlock()

	inst, err := s.load()
	switch {
	case err == nil && inst.running():
		if err := inst.checkSSH(ctx); err != nil {
			return nil, fmt.Errorf("sandbox %q runs (pid %d) but does not answer over ssh (run sandbox:down): %w", s.name, inst.PID, err)
		}
		s.printf("sandbox %s: already running (pid %d, ssh port %d)", s.name, inst.PID, inst.Port)
		return inst, nil
	case err == nil:
		s.printf("sandbox %s: clearing the stale state of pid %d", s.name, inst.PID)
		if err := inst.stop(ctx); err != nil {
			return nil, err
		}
		s.clean()
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}

	base, err := s.ensureBase(ctx)
	if err != nil {
		return nil, err
	}
	host, port := "127.0.0.1", 22
	if s.network == nil {
		if port, err = freeport.Pick(); err != nil {
			return nil, err
		}
	} else {
		host = s.network.Addr(s.host).String()
	}
	if err := s.writeInstanceFiles(host, port); err != nil {
		return nil, err
	}
	st := state{Port: port, Host: host, Base: base}
	if s.persistent {
		if st.Root, err = s.mountRoot(base); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	inst = s.instance(st)
	if err := s.boot(&inst.state); err != nil {
		_ = inst.stop(ctx)
		s.clean()
		return nil, err
	}
	inst.PID = inst.state.PID
	if err := s.save(inst.state); err != nil {
		_ = inst.stop(ctx)
		s.clean()
		return nil, err
	}
	bootCtx, cancel := context.WithTimeout(ctx, s.bootTimeout)
	defer cancel()
	if err := inst.waitReady(bootCtx); err != nil {
		logTail := tail(s.path(logFile), 20)
		// A fresh context: bootCtx may be what ran out.
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if serr := inst.stop(stopCtx); serr != nil {
			err = errors.Join(err, serr)
		} else {
			s.clean()
		}
		return nil, fmt.Errorf("sandbox %q not ready: %w\n%s", s.name, err, logTail)
	}
	s.printf("sandbox %s: up in %s (pid %d, ssh %s port %d)", s.name, time.Since(start).Round(100*time.Millisecond), inst.PID, host, port)
	return inst, nil
}

// writeInstanceFiles writes what is fresh on every up: admin's key pair,
// sshd's host key and port, the ssh config and known_hosts, the db password.
func (s *Sandbox) writeInstanceFiles(host string, port int) error {
	s.clean()
	inject := s.path(injectDir)
	if err := os.MkdirAll(inject, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", inject, err)
	}
	hostKey, err := writeKeyPair(filepath.Join(inject, "ssh_host_ed25519_key"), "root@sandbox")
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	adminKey, err := writeKeyPair(s.path(keyFile), "admin@"+s.name)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}
	pw, err := randomSecret()
	if err != nil {
		return err
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{filepath.Join(inject, "authorized_keys"), string(ssh.MarshalAuthorizedKey(adminKey)), 0o644},
		{filepath.Join(inject, "sshd.conf"), sshdConfig(port, s.network != nil), 0o644},
		{s.path(knownHostsFile), knownHostsLine(host, port, hostKey), 0o644},
		{s.path(configFile), sshConfig(host, port, s.path(keyFile), s.path(knownHostsFile)), 0o644},
		{s.path(dbPasswordFile), pw + "\n", 0o600},
	}
	if s.network != nil {
		files = append(files, struct {
			path, content string
			mode          os.FileMode
		}{filepath.Join(inject, "host0.network"), networkFile(s.network.Addr(s.host)), 0o644})
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte(f.content), f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	s.chownToSudoUser(s.path(keyFile), s.path(keyFile+".pub"), s.path(knownHostsFile), s.path(configFile))
	return nil
}

// chownToSudoUser hands the ssh client files to the developer who ran
// `sudo go run mage.go sandbox:up`, so `ssh -F` and deploy work without sudo.
// The state dir itself stays root's: nobody else may swap files in it.
func (s *Sandbox) chownToSudoUser(paths ...string) {
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid == 0 {
		return
	}
	for _, p := range paths {
		if err := os.Lchown(p, uid, gid); err != nil {
			s.printf("sandbox %s: warning: cannot hand %s to the sudo user: %v", s.name, p, err)
		}
	}
}

// boot starts systemd-nspawn on st (its root, address and port set),
// detached from the caller: its own session, output to the log file, so it
// survives the mage process. It records the new pid in st.
func (s *Sandbox) boot(st *state) error {
	logf, err := os.OpenFile(s.path(logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- boot at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	inject := s.path(injectDir)
	binds := [][2]string{
		{filepath.Join(inject, "ssh_host_ed25519_key"), "/etc/ssh/ssh_host_ed25519_key"},
		{filepath.Join(inject, "ssh_host_ed25519_key.pub"), "/etc/ssh/ssh_host_ed25519_key.pub"},
		{filepath.Join(inject, "sshd.conf"), "/etc/ssh/sshd_config.d/sandbox.conf"},
		{filepath.Join(inject, "authorized_keys"), "/home/admin/.ssh/authorized_keys"},
	}
	args := []string{
		"--boot",
		// The host has no D-Bus and no machined (see NOTES).
		"--register=no", "--keep-unit",
		"--machine=" + s.name,
		"--console=read-only",
	}
	if st.Root != "" {
		// The overlay mounted by mountRoot: writes land in the state dir.
		args = append(args, "--directory="+st.Root)
	} else {
		// The base stays read-only and shared; writes go to a tmpfs in the
		// container's mount namespace, gone with it.
		args = append(args, "--directory="+st.Base, "--volatile=overlay")
	}
	if s.network != nil {
		args = append(args, "--network-bridge="+s.network.Bridge)
		binds = append(binds, [2]string{filepath.Join(inject, "host0.network"), networkFilePath})
	}
	for _, b := range binds {
		args = append(args, "--bind-ro="+b[0]+":"+b[1])
	}
	cmd := exec.Command("systemd-nspawn", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// TERM=dumb keeps colour codes out of the boot log.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := s.start(cmd); err != nil {
		return fmt.Errorf("start systemd-nspawn: %w", err)
	}
	pid := cmd.Process.Pid
	ps, err := readStat(pid)
	if err != nil {
		return fmt.Errorf("systemd-nspawn exited at once:\n%s", tail(s.path(logFile), 10))
	}
	st.PID, st.StartTime, st.StartedAt = pid, ps.startTime, time.Now().UTC()
	st.Leader, st.LeaderStartTime = 0, 0
	return nil
}

// start starts cmd and reaps it in the background, so a container that
// stops while we run leaves no zombie. With stopOnExit the kernel sends it
// SIGTERM when the thread that forked it dies, so that thread is locked to a
// goroutine that lives as long as the container.
func (s *Sandbox) start(cmd *exec.Cmd) error {
	exited := make(chan int, 1)
	wait := func() {
		_ = cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}
	if !s.stopOnExit {
		if err := cmd.Start(); err != nil {
			return err
		}
		s.recordExit(cmd.Process.Pid, exited)
		go wait()
		return nil
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when this goroutine ends, its thread ends too.
		err := cmd.Start()
		if err == nil {
			s.recordExit(cmd.Process.Pid, exited)
		}
		started <- err
		if err == nil {
			wait()
		}
	}()
	return <-started
}

// recordExit keeps the channel that receives the exit status of the
// systemd-nspawn of pid.
func (s *Sandbox) recordExit(pid int, exited chan int) {
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	if s.exits == nil {
		s.exits = map[int]chan int{}
	}
	s.exits[pid] = exited
}
