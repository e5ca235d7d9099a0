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
)

// Proxy forwards loopback TCP connections to a target, counting the bytes
// sent upstream, and can cut every connection after a number of them: a
// network that fails mid-transfer, under the test's control.
type Proxy struct {
	Port     int
	target   string
	l        net.Listener
	up       atomic.Int64
	cutAfter atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// StartProxy listens on a free loopback port and forwards to target
// (host:port) until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Port: l.Addr().(*net.TCPAddr).Port, target: target, l: l}
	t.Cleanup(func() { l.Close(); p.Cut() })
	go p.serve()
	return p
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
		go func() { _, _ = io.Copy(c, u); c.Close() }()
		go p.pipeUp(c, u)
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
