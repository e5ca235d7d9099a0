package deploybench

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

// proxy forwards TCP connections to sshd and counts the bytes clients send:
// the same meter for deploy's Go SSH client and OpenSSH's ssh and scp.
type proxy struct {
	ln     net.Listener
	target string
	up     atomic.Int64 // bytes from clients to sshd
	active atomic.Int64 // connections open
	wg     sync.WaitGroup
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ssh proxy: %w", err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// sent is the bytes clients sent so far.
func (p *proxy) sent() int64 { return p.up.Load() }

// waitIdle waits (up to a second) until every connection has closed: a
// client may exit before the proxy has copied its last bytes.
func (p *proxy) waitIdle() {
	for deadline := time.Now().Add(time.Second); p.active.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *proxy) close() error {
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *proxy) serve() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.active.Add(1)
		conns.Go(func() {
			defer p.active.Add(-1)
			p.forward(c)
		})
	}
}

// forward copies both ways until either side is done, then closes both.
func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(countingWriter{s, &p.up}, c)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, s)
		done <- struct{}{}
	}()
	<-done
	c.Close()
	s.Close()
	<-done
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// proxiedConfig writes an ssh config in dir that reaches the sandbox's
// alias as user through the proxy on port, and a known_hosts holding the sandbox's
// host key under the proxy's address: host key checking stays strict.
func proxiedConfig(inst *sandbox.Instance, user string, port int, dir string) (string, error) {
	known, err := os.ReadFile(inst.KnownHostsPath)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(known)), "\n") {
		if _, key, ok := strings.Cut(line, " "); ok {
			lines = append(lines, fmt.Sprintf("[127.0.0.1]:%d %s", port, key))
		}
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s holds no host key", inst.KnownHostsPath)
	}
	knownPath := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
`, inst.Alias, port, user, inst.KeyPath, knownPath)
	cfgPath := filepath.Join(dir, "ssh_config")
	return cfgPath, os.WriteFile(cfgPath, []byte(cfg), 0o600)
}
