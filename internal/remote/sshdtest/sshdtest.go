// Package sshdtest starts a real OpenSSH server on a loopback port for a
// test: temporary host keys, a client key in authorized_keys, a known_hosts
// file and an ssh config with an alias for it, all in t.TempDir(). The
// server runs as the test's user (root: sshd's privilege separation needs
// it) and stops when the test ends.
//
//	srv := sshdtest.Start(t)
//	// ssh -F srv.ConfigPath srv.Alias works, and so does:
//	c, err := remote.Dial(ctx, remote.Options{Alias: srv.Alias, ConfigPath: srv.ConfigPath})
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// Server is a running loopback sshd and the client files that reach it.
type Server struct {
	Dir  string
	Host string // 127.0.0.1
	Port int
	// User is the login user (the test's own user).
	User string
	// Alias is the Host alias in ConfigPath.
	Alias      string
	ConfigPath string
	// KeyPath is the client's private key (ed25519, unencrypted).
	KeyPath        string
	KnownHostsPath string
	// HostKeys are the server's public host keys, by type.
	HostKeys map[string]ssh.PublicKey
	// CA signed the host certificates (Options.HostCA), else nil.
	CA      ssh.PublicKey
	LogPath string

	cmd *exec.Cmd
}

// Options tunes Start. The zero value is one ed25519 host key, known to the
// client, and StrictHostKeyChecking yes.
type Options struct {
	// HostKeyTypes lists the host keys sshd gets: "ed25519", "rsa".
	HostKeyTypes []string
	// KnownTypes lists the host key types written to known_hosts; nil means
	// all of HostKeyTypes, an empty non-nil slice none (an unknown host).
	KnownTypes []string
	// ExtraConfig is appended under the client's Host entry.
	ExtraConfig string
	// SSHDConfig is appended to sshd's config.
	SSHDConfig string
	// HostCA makes a certificate authority (Server.CA) sign every host key
	// (ssh-keygen -s, principal 127.0.0.1) and sshd present the certificates.
	HostCA bool
}

// Start starts sshd for the test. Without root or /usr/sbin/sshd the test
// is skipped (fails in CI).
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if len(o.HostKeyTypes) == 0 {
		o.HostKeyTypes = []string{"ed25519"}
	}
	if o.KnownTypes == nil {
		o.KnownTypes = o.HostKeyTypes
	}
	_, err := os.Stat("/usr/sbin/sshd")
	testenv.Need(t, err == nil, "OpenSSH server: apt-get install openssh-server")
	testenv.NeedRoot(t, "sshd's privilege separation")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd refuses paths under a world-writable /tmp with StrictModes, and
	// t.TempDir is fine with StrictModes off.
	dir := t.TempDir()
	s := &Server{
		Dir: dir, Host: "127.0.0.1", User: u.Username,
		Alias:          "sshdtest",
		ConfigPath:     filepath.Join(dir, "ssh_config"),
		KeyPath:        filepath.Join(dir, "id_ed25519"),
		KnownHostsPath: filepath.Join(dir, "known_hosts"),
		LogPath:        filepath.Join(dir, "sshd.log"),
		HostKeys:       map[string]ssh.PublicKey{},
	}
	clientKey := writeKey(t, s.KeyPath, "ed25519")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientKey), 0o600); err != nil {
		t.Fatal(err)
	}
	var hostKeyLines []string
	for _, typ := range o.HostKeyTypes {
		p := filepath.Join(dir, "ssh_host_"+typ+"_key")
		s.HostKeys[typ] = writeKey(t, p, typ)
		hostKeyLines = append(hostKeyLines, "HostKey "+p)
	}
	if o.HostCA {
		ca := filepath.Join(dir, "host_ca")
		s.CA = writeKey(t, ca, "ed25519")
		for _, typ := range o.HostKeyTypes {
			p := filepath.Join(dir, "ssh_host_"+typ+"_key")
			cmd := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", "sshdtest", "-h", "-n", "127.0.0.1", p+".pub")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sshdtest: sign host key: %v: %s", err, out)
			}
			hostKeyLines = append(hostKeyLines, "HostCertificate "+p+"-cert.pub")
		}
	}
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	s.Port = port
	sshdCfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
%s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
Subsystem sftp /usr/lib/openssh/sftp-server
%s
`, s.Port, strings.Join(hostKeyLines, "\n"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), o.SSHDConfig)
	sshdPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(sshdPath, []byte(sshdCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var known []string
	for _, typ := range o.KnownTypes {
		known = append(known, s.KnownHostsLine(typ))
	}
	if err := os.WriteFile(s.KnownHostsPath, []byte(strings.Join(known, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ConfigPath, []byte(s.HostEntry(s.Alias)+o.ExtraConfig+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s.cmd = exec.Command("/usr/sbin/sshd", "-D", "-f", sshdPath, "-E", s.LogPath)
	// Its own process group: the per-connection sshd processes it forks
	// write the log in t.TempDir too, and must be gone before the folder
	// is removed (killing the listener alone left them writing).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("sshdtest: start sshd: %v", err)
	}
	t.Cleanup(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = s.cmd.Wait()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
				break
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.LogPath)
			t.Fatalf("sshdtest: sshd not listening on %d: %v\n%s", s.Port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HostEntry is an ssh config `Host alias` block reaching this server.
func (s *Server) HostEntry(alias string) string {
	return remote.HostEntry(alias, s.Port, s.User, s.KeyPath, s.KnownHostsPath)
}

// KnownHostsLine is the known_hosts line for the host key of type typ.
func (s *Server) KnownHostsLine(typ string) string {
	return knownhosts.Line([]string{fmt.Sprintf("[127.0.0.1]:%d", s.Port)}, s.HostKeys[typ]) + "\n"
}

// CertAuthorityLine is the known_hosts line trusting the host CA
// (Options.HostCA) for this server.
func (s *Server) CertAuthorityLine() string {
	return fmt.Sprintf("@cert-authority [127.0.0.1]:%d %s", s.Port, ssh.MarshalAuthorizedKey(s.CA))
}

// Addr is host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Log returns what sshd logged so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// writeKey writes a fresh private key of type typ in OpenSSH format (0600)
// with its .pub, and returns the public key.
func writeKey(t testing.TB, path, typ string) ssh.PublicKey {
	t.Helper()
	var priv any
	switch typ {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	default:
		t.Fatalf("sshdtest: key type %q: use ed25519 or rsa", typ)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshdtest")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return signer.PublicKey()
}

// WriteKey writes a fresh unencrypted private key of type typ ("ed25519" or
// "rsa") to path, with path.pub, and returns its public key.
func WriteKey(t testing.TB, path, typ string) ssh.PublicKey {
	t.Helper()
	return writeKey(t, path, typ)
}

// Authorize adds a public key to the server's authorized_keys.
func (s *Server) Authorize(t testing.TB, pub ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
}

func marshalAuthorized(k ssh.PublicKey) []byte { return ssh.MarshalAuthorizedKey(k) }
