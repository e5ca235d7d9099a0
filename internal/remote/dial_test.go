package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/testenv"
)

func noAgent(string) string { return "" }

func dial(t *testing.T, srv *sshdtest.Server, alias string, out *bytes.Buffer) (*remote.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := remote.Options{Alias: alias, ConfigPath: srv.ConfigPath, Getenv: noAgent, HandshakeTimeout: 5 * time.Second}
	if out != nil {
		o.Stdout = out
	}
	c, err := remote.Dial(ctx, o)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func mustDial(t *testing.T, srv *sshdtest.Server) *remote.Client {
	t.Helper()
	c, err := dial(t, srv, srv.Alias, nil)
	if err != nil {
		t.Fatalf("dial: %v\nsshd log:\n%s", err, srv.Log())
	}
	return c
}

func TestRunAndExitError(t *testing.T) {
	srv := sshdtest.Start(t)
	c := mustDial(t, srv)
	ctx := context.Background()
	out, err := c.Run(ctx, "cat; echo done", strings.NewReader("secret-from-stdin\n"))
	if err != nil || string(out) != "secret-from-stdin\ndone\n" {
		t.Fatalf("run: %q, %v", out, err)
	}
	_, err = c.Run(ctx, "echo boom >&2; exit 3", nil)
	var ee *remote.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("want exit 3 with stderr, got %v", err)
	}
	// The user is root here, so RunRoot runs the command as it is.
	out, err = c.RunRoot(ctx, "id -u", nil)
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("runroot: %q %v", out, err)
	}
	// Cancelling kills the command instead of waiting for it.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Run(cctx, "sleep 30", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled run: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancel did not stop the command")
	}
}

// A server whose key is not in known_hosts is refused with the fingerprint
// and the line to add; nothing runs there.
func TestUnknownHostRefusedWithFingerprint(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{KnownTypes: []string{}})
	_, err := dial(t, srv, srv.Alias, nil)
	var uh *remote.UnknownHostError
	if !errors.As(err, &uh) {
		t.Fatalf("want UnknownHostError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"SHA256:", srv.KnownHostsPath, "accept-new", strings.TrimSpace(srv.KnownHostsLine("ed25519"))} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if log := srv.Log(); strings.Contains(log, "Accepted publickey") {
		t.Errorf("logged in to an unverified server:\n%s", log)
	}
}

// accept-new records an unknown host's key (the one OpenSSH would record),
// then checks against it.
func TestAcceptNewRecordsKey(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{
		HostKeyTypes: []string{"rsa", "ed25519"}, KnownTypes: []string{},
		ExtraConfig: "  StrictHostKeyChecking accept-new\n",
	})
	// A later line can't override the first StrictHostKeyChecking: rewrite it.
	cfg, _ := os.ReadFile(srv.ConfigPath)
	cfg = bytes.Replace(cfg, []byte("StrictHostKeyChecking yes\n"), nil, 1)
	if err := os.WriteFile(srv.ConfigPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := dial(t, srv, srv.Alias, &out); err != nil {
		t.Fatal(err)
	}
	kh, _ := os.ReadFile(srv.KnownHostsPath)
	if string(kh) != srv.KnownHostsLine("ed25519") {
		t.Errorf("known_hosts %q, want the ed25519 line", kh)
	}
	if !strings.Contains(out.String(), "recorded new host key") {
		t.Errorf("no notice printed: %q", out.String())
	}
	if _, err := dial(t, srv, srv.Alias, nil); err != nil {
		t.Fatalf("second dial: %v", err)
	}
}

// A changed host key is refused loudly, naming the known_hosts line.
func TestChangedHostKeyRefused(t *testing.T) {
	srv := sshdtest.Start(t)
	other := sshdtest.WriteKey(t, filepath.Join(t.TempDir(), "other"), "ed25519")
	kh := fmt.Sprintf("# first line\n[127.0.0.1]:%d %s", srv.Port, ssh.MarshalAuthorizedKey(other))
	if err := os.WriteFile(srv.KnownHostsPath, []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := dial(t, srv, srv.Alias, nil)
	var hc *remote.HostKeyChangedError
	if !errors.As(err, &hc) {
		t.Fatalf("want HostKeyChangedError, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "HOST KEY CHANGED") || !strings.Contains(msg, srv.KnownHostsPath+":2") {
		t.Errorf("message should shout and name %s:2:\n%s", srv.KnownHostsPath, msg)
	}
	if strings.Contains(srv.Log(), "Accepted publickey") {
		t.Error("logged in despite the changed key")
	}
}

// The ed25519 trap: the server also has an rsa key, known_hosts holds only
// ed25519; x/crypto's defaults would ask for rsa first and fail.
func TestHostKeyAlgorithmFromKnownHosts(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{HostKeyTypes: []string{"rsa", "ed25519"}, KnownTypes: []string{"ed25519"}})
	mustDial(t, srv)
	srv2 := sshdtest.Start(t, sshdtest.Options{HostKeyTypes: []string{"rsa", "ed25519"}, KnownTypes: []string{"rsa"}})
	mustDial(t, srv2)
}

// A server that accepts TCP but never speaks SSH fails within the
// handshake timeout instead of hanging.
func TestHandshakeTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	srv := sshdtest.Start(t)
	port := l.Addr().(*net.TCPAddr).Port
	appendConfig(t, srv, fmt.Sprintf("Host silent\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n", port, srv.KeyPath, srv.KnownHostsPath))
	start := time.Now()
	_, err = dial(t, srv, "silent", nil)
	if err == nil || !strings.Contains(err.Error(), "no answer within 5s") {
		t.Fatalf("want a handshake timeout, got %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %s", d)
	}
}

// ProxyJump: the target is reached through a jump host, each an alias with
// its own known_hosts check.
func TestProxyJump(t *testing.T) {
	target := sshdtest.Start(t)
	jump := sshdtest.Start(t)
	cfg := jump.HostEntry("jumpbox") + strings.Replace(target.HostEntry("behind"), "  HostName", "  ProxyJump jumpbox\n  HostName", 1)
	kh := readFile(t, jump.KnownHostsPath) + readFile(t, target.KnownHostsPath)
	cfg = strings.ReplaceAll(cfg, jump.KnownHostsPath, jump.KnownHostsPath+".both")
	cfg = strings.ReplaceAll(cfg, target.KnownHostsPath, jump.KnownHostsPath+".both")
	if err := os.WriteFile(jump.KnownHostsPath+".both", []byte(kh), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jump.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, jump, "behind", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), "true", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jump.Log(), "direct-tcpip") && !strings.Contains(jump.Log(), "Accepted publickey") {
		t.Errorf("jump host not used:\n%s", jump.Log())
	}
}

// With IdentitiesOnly, only the agent key matching IdentityFile is offered,
// first: an agent full of other keys would exhaust MaxAuthTries.
func TestAgentKeyMatchingIdentityFileFirst(t *testing.T) {
	_, err := exec.LookPath("ssh-agent")
	testenv.Need(t, err == nil, "ssh-agent: apt-get install openssh-client")
	srv := sshdtest.Start(t, sshdtest.Options{SSHDConfig: "MaxAuthTries 3\n"})
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	waitListening(t, sock)
	for i := range 6 {
		p := filepath.Join(dir, fmt.Sprintf("k%d", i))
		sshdtest.WriteKey(t, p, "ed25519")
		sshAdd(t, sock, p)
	}
	sshAdd(t, sock, srv.KeyPath)
	// The private key file is gone: only the agent can sign.
	if err := os.Remove(srv.KeyPath); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	getenv := func(k string) string {
		if k == "SSH_AUTH_SOCK" {
			return sock
		}
		return ""
	}
	c, err := remote.Dial(ctx, remote.Options{Alias: srv.Alias, ConfigPath: srv.ConfigPath, Getenv: getenv})
	if err != nil {
		t.Fatalf("dial with agent: %v\n%s", err, srv.Log())
	}
	c.Close()
}

// HTTPGet reaches a server-side loopback address through the connection.
func TestHTTPGetThroughConnection(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s", r.URL.Path)
	}))
	defer app.Close()
	srv := sshdtest.Start(t)
	c := mustDial(t, srv)
	code, body, err := c.HTTPGet(context.Background(), strings.TrimPrefix(app.URL, "http://"), "/readyz")
	if err != nil || code != 200 || string(body) != "path=/readyz" {
		t.Fatalf("got %d %q %v", code, body, err)
	}
	if _, _, err := c.HTTPGet(context.Background(), "127.0.0.1:1", "/readyz"); err == nil {
		t.Fatal("closed port: want an error")
	}
}

func appendConfig(t *testing.T, srv *sshdtest.Server, text string) {
	t.Helper()
	f, err := os.OpenFile(srv.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitListening waits until the unix socket p accepts connections: the
// file exists from bind(), but connecting is refused until listen().
func waitListening(t *testing.T, p string) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("unix", p); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never accepted a connection", p)
}

func sshAdd(t *testing.T, sock, key string) {
	t.Helper()
	cmd := exec.Command("ssh-add", key)
	cmd.Env = []string{"SSH_AUTH_SOCK=" + sock}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
}

// StreamRoot runs one command with its words as given (no shell expands
// them) and refuses a script before it reaches the server.
func TestStreamRootRunsOneCommandAndRefusesAScript(t *testing.T) {
	srv := sshdtest.Start(t)
	c := mustDial(t, srv)
	ctx := context.Background()
	var out, errw bytes.Buffer
	cmd := remote.QuoteAll([]string{"printf", "%s|", "a b", "it's", "$HOME", "a;b"})
	if err := c.StreamRoot(ctx, cmd, nil, &out, &errw); err != nil {
		t.Fatalf("%v: %s", err, errw.String())
	}
	if got := out.String(); got != "a b|it's|$HOME|a;b|" {
		t.Errorf("output %q", got)
	}
	mark := filepath.Join(t.TempDir(), "ran")
	err := c.StreamRoot(ctx, "true; touch "+mark, nil, &out, &errw)
	if err == nil || !strings.Contains(err.Error(), "remote.QuoteAll") {
		t.Errorf("a script: %v", err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the script ran")
	}
}
