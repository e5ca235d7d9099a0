package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// waitReady waits, within ctx, for each thing Up promises, in boot order.
func (i *Instance) waitReady(ctx context.Context) error {
	if err := i.waitLeader(ctx); err != nil {
		return err
	}
	if err := i.waitSystem(ctx); err != nil {
		return err
	}
	if !i.sb.noPostgreSQL {
		if err := i.setupDatabase(ctx); err != nil {
			return err
		}
	}
	if err := retry(ctx, "sshd accepting admin's key", i.nspawnAlive, func() error { return i.checkSSH(ctx) }); err != nil {
		return err
	}
	if i.sb.network == nil {
		return nil
	}
	// Down checks that the veth went with the container.
	veth, err := i.vethName(ctx)
	if err != nil {
		return err
	}
	i.state.Veth = veth
	return i.sb.save(i.state)
}

func (i *Instance) nspawnAlive() error {
	if !i.running() {
		return errors.New("systemd-nspawn exited")
	}
	return nil
}

// retry calls try every 250 ms until it succeeds, ctx ends, or dead reports
// the container gone (no point waiting then). The last error is kept: it says
// more than "deadline exceeded".
func retry(ctx context.Context, what string, dead func() error, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		if errors.Is(err, errDegraded) {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if derr := dead(); derr != nil {
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, derr, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitLeader finds the container's init and records it: Command enters its
// namespaces, and down kills it if nspawn hangs.
func (i *Instance) waitLeader(ctx context.Context) error {
	return retry(ctx, "container init", i.nspawnAlive, func() error {
		pid, start, err := containerLeader(i.PID)
		if err != nil {
			return err
		}
		if pid == 0 {
			return errors.New("not started yet")
		}
		i.Leader, i.state.Leader, i.state.LeaderStartTime = pid, pid, start
		return i.sb.save(i.state)
	})
}

// waitSystem waits for `systemctl is-system-running` to say running. A
// degraded boot is an error naming the failed units: deploy and systemd tests
// must not run on a server that is already broken.
func (i *Instance) waitSystem(ctx context.Context) error {
	return retry(ctx, "multi-user.target", i.nspawnAlive, func() error {
		// --wait blocks while the state is initializing or starting; before
		// systemd listens, systemctl fails at once and we retry.
		out, _ := i.Command(ctx, "systemctl", "is-system-running", "--wait").Output()
		switch st := strings.TrimSpace(string(out)); st {
		case "running":
			return nil
		case "degraded":
			failed, _ := i.Run(ctx, "systemctl", "--failed", "--no-legend", "--plain")
			return errors.Join(fmt.Errorf("boot degraded, failed units:\n%s\n%s", failed, i.failedStatus(ctx)), errDegraded)
		default:
			return fmt.Errorf("system state %q", st)
		}
	})
}

// failedStatus is `systemctl status` of the failed units: why they failed,
// with their last log lines, which the console log does not keep.
func (i *Instance) failedStatus(ctx context.Context) string {
	// It exits 3 for a failed unit; the output is what we want.
	out, _ := i.Run(ctx, "systemctl", "status", "--state=failed", "--no-pager", "--lines=20")
	return out
}

// errDegraded is not retried: a failed unit stays failed.
var errDegraded = errors.New("degraded")

// setupDatabase waits for PostgreSQL and sets the app role's password to
// this instance's secret. The password goes through psql's stdin: never in
// an argv that `ps` shows.
func (i *Instance) setupDatabase(ctx context.Context) error {
	err := retry(ctx, "PostgreSQL", i.nspawnAlive, func() error {
		// The socket DatabaseURL names (no port: 5432), not whichever
		// port psql's wrapper would find the cluster on.
		_, err := i.Run(ctx, "runuser", "-u", "postgres", "--", "psql", "-h", "/var/run/postgresql", "-p", "5432", "-Atqc", "select 1")
		return err
	})
	if err != nil {
		return err
	}
	pw, err := os.ReadFile(i.sb.path(dbPasswordFile))
	if err != nil {
		return fmt.Errorf("read db password: %w", err)
	}
	cmd := i.Command(ctx, "runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-q")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("ALTER ROLE app PASSWORD '%s';\n", strings.TrimSpace(string(pw))))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("set app role password: %w: %s", err, out)
	}
	return nil
}

// checkSSH logs in as admin with the instance's key, checking the host key
// against its known_hosts, and runs `sudo -n true`: what deploy will need.
func (i *Instance) checkSSH(ctx context.Context) error {
	keyPEM, err := os.ReadFile(i.KeyPath)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("parse key: %w", err)
	}
	hostKeys, err := knownhosts.New(i.KnownHostsPath)
	if err != nil {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	addr := net.JoinHostPort(i.Host, fmt.Sprint(i.Port))
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// ClientConfig.Timeout covers only the dial: bound the handshake too.
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              "admin",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	})
	if err != nil {
		return fmt.Errorf("ssh %s: %w", addr, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	if out, err := sess.CombinedOutput("sudo -n true"); err != nil {
		return fmt.Errorf("ssh sudo -n true: %w: %s", err, out)
	}
	return nil
}
