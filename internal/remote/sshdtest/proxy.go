package sshdtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards loopback TCP connections to a target, counting the bytes
// sent upstream, and can cut every connection after a number of them: a
// network that fails mid-transfer, under the test's control. The benchmarks
// use it as a meter of what a client sends to sshd, whatever the client.
type Proxy struct {
	Port     int
	target   string
	l        net.Listener
	up       atomic.Int64
	cutAfter atomic.Int64
	active   atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// StartProxy listens on a free loopback port and forwards to target
// (host:port) until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := Listen(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Listen starts a Proxy to target outside a test; Close stops it.
func Listen(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{Port: l.Addr().(*net.TCPAddr).Port, target: target, l: l}
	go p.serve()
	return p, nil
}

// Close stops listening and closes every open connection.
func (p *Proxy) Close() error {
	err := p.l.Close()
	p.Cut()
	return err
}

// WaitIdle waits (up to a second) until every connection has closed: a
// client may exit before the proxy has copied its last bytes.
func (p *Proxy) WaitIdle() {
	for deadline := time.Now().Add(time.Second); p.active.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// BytesUp is the total sent from clients to the target so far.
func (p *Proxy) BytesUp() int64 { return p.up.Load() }

// CutAfter makes the proxy close every connection once the total sent
// upstream exceeds n bytes (0: never).
func (p *Proxy) CutAfter(n int64) { p.cutAfter.Store(n) }

// Cut closes every open connection now.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.active.Add(1)
		go func() { _, _ = io.Copy(c, u); c.Close() }()
		go func() {
			defer p.active.Add(-1)
			p.pipeUp(c, u)
		}()
	}
}

func (p *Proxy) pipeUp(c, u net.Conn) {
	defer u.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			total := p.up.Add(int64(n))
			if limit := p.cutAfter.Load(); limit > 0 && total > limit {
				p.Cut()
				return
			}
			if _, werr := u.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// AddAlias adds a Host entry named alias that reaches this server on port
// (e.g. a Proxy's), with the host keys recorded for that port too.
func (s *Server) AddAlias(t testing.TB, alias string, port int) {
	t.Helper()
	entry := strings.Replace(s.HostEntry(alias), fmt.Sprintf("Port %d\n", s.Port), fmt.Sprintf("Port %d\n", port), 1)
	appendFile(t, s.ConfigPath, entry)
	for _, k := range s.HostKeys {
		appendFile(t, s.KnownHostsPath, fmt.Sprintf("[127.0.0.1]:%d %s", port, marshalAuthorized(k)))
	}
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
