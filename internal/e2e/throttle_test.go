package e2e

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// throttle is a loopback TCP proxy that forwards client bytes at a fixed
// rate: an upload through it takes seconds, long enough to start a second
// deploy while the first holds the lock.
type throttle struct {
	port int
	up   atomic.Int64
}

func startThrottle(t *testing.T, target string, bytesPerSec int) *throttle {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	th := &throttle{port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(c, u); c.Close() }()
			go func() {
				defer u.Close()
				const chunk = 16 << 10
				buf := make([]byte, chunk)
				pause := time.Second * chunk / time.Duration(bytesPerSec)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						th.up.Add(int64(n))
						if _, werr := u.Write(buf[:n]); werr != nil {
							return
						}
						if n == chunk {
							time.Sleep(pause)
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return th
}

func (th *throttle) waitBytes(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for th.up.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d bytes went through the throttle", th.up.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
