// Package lb runs a real load balancer on this machine for tests: Caddy
// (Debian's caddy, /usr/bin/caddy) reverse-proxying to several app hosts,
// round robin, with an active health check of each host's /readyz, as
// docs/deploy.md sets one up for an app on several hosts. A host whose /readyz fails
// (down, never ready) is taken out of the rotation until it passes again;
// there are no retries, so a request the chosen host fails is a failed
// request: what the tests count.
package lb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// HealthInterval is how often Caddy asks each host's /readyz.
const HealthInterval = 500 * time.Millisecond

// Balancer is a running Caddy in front of the hosts.
type Balancer struct {
	// URL is where it listens (http://addr).
	URL string
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

// Caddyfile is the configuration: listen on addr, proxy to the upstreams
// (host:port), health-check /readyz every HealthInterval. The admin API is
// off: nothing on this machine can change it while it runs.
func Caddyfile(addr string, upstreams []string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
}

http://%s {
	reverse_proxy %s {
		lb_policy round_robin
		health_uri /readyz
		health_interval %s
		health_timeout 2s
		health_status 200
	}
}
`, addr, strings.Join(upstreams, " "), HealthInterval)
}

// Start runs Caddy in dir (its config, data and log) listening on addr
// (host:port), in front of upstreams, and waits until it answers.
func Start(ctx context.Context, dir, addr string, upstreams []string) (*Balancer, error) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		return nil, fmt.Errorf("lb: no caddy on this machine: apt-get install caddy")
	}
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(Caddyfile(addr, upstreams)), 0o600); err != nil {
		return nil, err
	}
	b := &Balancer{URL: "http://" + addr}
	b.cmd = exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	b.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("lb: start caddy: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("lb: caddy exited: %v\n%s", err, b.Output())
		case <-ctx.Done():
			b.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("lb: caddy not listening on %s after 15s\n%s", addr, b.Output())
		}
	}
	go func() { <-exited }()
	return b, nil
}

// Write collects Caddy's log (it is the process's stdout and stderr).
func (b *Balancer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out.Len() < 1<<20 {
		b.out.Write(p)
	}
	return len(p), nil
}

// Output is Caddy's log so far.
func (b *Balancer) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// Stop ends Caddy (by its process id).
func (b *Balancer) Stop() {
	if b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
	}
}

// WaitHealthy waits until n requests in a row to path through the
// balancer answer 200: every upstream meant to be in rotation passed its
// health check.
func (b *Balancer) WaitHealthy(ctx context.Context, path string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ok := 0
	var last error
	for ok < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("lb: %d requests in a row to %s did not answer 200 within %s: %v", n, path, timeout, last)
		}
		resp, err := http.Get(b.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
		}
		if err != nil {
			ok, last = 0, err
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ok++
	}
	return nil
}
