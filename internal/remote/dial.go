package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultHandshakeTimeout bounds the SSH handshake (and the TCP connect
// when the config sets no ConnectTimeout).
const DefaultHandshakeTimeout = 20 * time.Second

// Options says where and how to connect.
type Options struct {
	// Alias is a Host alias from the ssh config.
	Alias string
	// ConfigPath is the ssh config file; "" is ~/.ssh/config.
	ConfigPath string
	// Getenv reads SSH_AUTH_SOCK; nil is os.Getenv.
	Getenv func(string) string
	// Log receives debug details (keys tried, hops); nil discards them.
	Log *slog.Logger
	// Stdout receives the line saying a new host key was recorded
	// (StrictHostKeyChecking accept-new); nil is os.Stdout.
	Stdout io.Writer
	// HandshakeTimeout bounds connect and handshake of each hop; 0 is
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Config, when set, is used as already resolved instead of Alias.
	Config *Config
}

// Client is an authenticated SSH connection to one server.
type Client struct {
	cfg     Config
	ssh     *ssh.Client
	log     *slog.Logger
	closers []func()
	counted *countingConn
	once    sync.Once
	done    chan struct{}
}

// Dial resolves the alias (unless o.Config is set) and connects, through
// each ProxyJump hop, verifying every host key against known_hosts.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	src := ConfigSource{Path: o.ConfigPath, Getenv: o.Getenv}
	var cfg Config
	if o.Config != nil {
		cfg = *o.Config
	} else {
		var err error
		if cfg, err = Resolve(ctx, o.Alias, src); err != nil {
			return nil, err
		}
	}
	return dial(ctx, cfg, src, o, 0)
}

func dial(ctx context.Context, cfg Config, src ConfigSource, o Options, depth int) (*Client, error) {
	if cfg.ProxyCommand != "" {
		return nil, fmt.Errorf("connect to %s: ProxyCommand is not supported (use ProxyJump)", cfg.Alias)
	}
	if depth > 8 {
		return nil, fmt.Errorf("connect to %s: more than 8 ProxyJump hops (a loop in the ssh config?)", cfg.Alias)
	}
	var (
		conn net.Conn
		jump *Client
		err  error
	)
	if cfg.ProxyJump != "" {
		hops, err := parseJumps(cfg.ProxyJump)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", cfg.Alias, err)
		}
		// As OpenSSH does: reach the last hop through the ones before it,
		// and the first hop by its own config.
		last := hops[len(hops)-1]
		hop, err := resolveHop(ctx, last.host, src)
		if err != nil {
			return nil, err
		}
		if last.user != "" {
			hop.User = last.user
		}
		if last.port != 0 {
			hop.Port = last.port
		}
		if len(hops) > 1 {
			hop.ProxyJump = joinJumps(hops[:len(hops)-1])
		}
		o.Log.Debug("ssh: via jump host", "alias", cfg.Alias, "hop", hop.Alias, "addr", hop.Addr())
		if jump, err = dial(ctx, hop, src, o, depth+1); err != nil {
			return nil, fmt.Errorf("jump host for %s: %w", cfg.Alias, err)
		}
		dctx, cancel := context.WithTimeout(ctx, o.HandshakeTimeout)
		conn, err = jump.ssh.DialContext(dctx, "tcp", cfg.Addr())
		cancel()
		if err != nil {
			jump.Close()
			return nil, fmt.Errorf("connect to %s (%s) via %s: %w", cfg.Alias, cfg.Addr(), hop.Alias, err)
		}
	} else {
		timeout := cfg.ConnectTimeout
		if timeout <= 0 {
			timeout = o.HandshakeTimeout
		}
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		if conn, err = d.DialContext(ctx, "tcp", cfg.Addr()); err != nil {
			return nil, fmt.Errorf("connect to %s (%s): %w", cfg.Alias, cfg.Addr(), err)
		}
	}
	counted := &countingConn{Conn: conn}
	c, err := handshake(ctx, counted, cfg, o)
	if err != nil {
		conn.Close()
		if jump != nil {
			jump.Close()
		}
		return nil, err
	}
	c.counted = counted
	if jump != nil {
		c.closers = append(c.closers, func() { jump.Close() })
	}
	return c, nil
}

// countingConn counts the bytes written to the server, SSH framing included.
type countingConn struct {
	net.Conn
	sent atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}

// BytesSent is everything written to the server on this connection so far,
// encrypted SSH framing included.
func (c *Client) BytesSent() int64 { return c.counted.sent.Load() }

// handshake runs the SSH handshake on conn, bounded by o.HandshakeTimeout
// and ctx: ClientConfig.Timeout covers only the TCP connect, and a server
// that accepts but never speaks would hang us forever.
func handshake(ctx context.Context, conn net.Conn, cfg Config, o Options) (*Client, error) {
	keys, closeAgent, err := signers(cfg, o.Getenv, o.Log)
	if err != nil {
		return nil, err
	}
	cb, algos, err := hostKeys(cfg, func(file, line string) {
		fmt.Fprintf(o.Stdout, "recorded new host key of %s in %s (StrictHostKeyChecking accept-new): %s\n", cfg.Alias, file, line)
	})
	if err != nil {
		closeAgent()
		return nil, err
	}
	cc := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(keys...)},
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
		Timeout:           o.HandshakeTimeout,
	}
	var expired atomic.Bool
	timer := time.AfterFunc(o.HandshakeTimeout, func() { expired.Store(true); conn.Close() })
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, cfg.Addr(), cc)
	timer.Stop()
	stop()
	closeAgent() // signers from the agent are used only during the handshake
	if err != nil {
		var uh *UnknownHostError
		var hc *HostKeyChangedError
		switch {
		case errors.As(err, &uh):
			return nil, uh
		case errors.As(err, &hc):
			return nil, hc
		case ctx.Err() != nil:
			return nil, fmt.Errorf("ssh handshake with %s (%s): %w", cfg.Alias, cfg.Addr(), ctx.Err())
		case expired.Load():
			return nil, fmt.Errorf("ssh handshake with %s (%s): no answer within %s (is it an SSH server?)", cfg.Alias, cfg.Addr(), o.HandshakeTimeout)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("log in to %s as %s: the server accepted none of the %d keys offered (check IdentityFile and the server's authorized_keys): %w", cfg.Alias, cfg.User, len(keys), err)
		}
		// x/crypto quotes what the server sent (algorithm lists, banners).
		return nil, fmt.Errorf("ssh handshake with %s (%s): %w", cfg.Alias, cfg.Addr(), cleanError{err})
	}
	c := &Client{cfg: cfg, ssh: ssh.NewClient(sc, chans, reqs), log: o.Log, done: make(chan struct{})}
	go c.keepAlive(cfg.ServerAliveInterval)
	return c, nil
}

// keepAlive pings the server so a dead network shows up as an error within
// a few intervals instead of a hang (OpenSSH's ServerAliveInterval).
func (c *Client) keepAlive(every time.Duration) {
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				return
			}
			missed = 0
		case <-time.After(every):
			if missed++; missed >= 3 {
				c.log.Debug("ssh: server stopped answering keepalives", "alias", c.cfg.Alias)
				c.Close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// Config returns the resolved configuration the client connected with.
func (c *Client) Config() Config { return c.cfg }

// Close closes the connection and the jump hosts' connections.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.ssh.Close()
		for _, f := range c.closers {
			f()
		}
	})
	return err
}

type jumpHop struct {
	user, host string
	port       int
}

// parseJumps reads ProxyJump's `[user@]host[:port]` and `ssh://` forms.
func parseJumps(s string) ([]jumpHop, error) {
	var hops []jumpHop
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var h jumpHop
		if strings.HasPrefix(part, "ssh://") {
			u, err := url.Parse(part)
			if err != nil {
				return nil, fmt.Errorf("ProxyJump %q: %w", part, err)
			}
			h.user, h.host = u.User.Username(), u.Hostname()
			if p := u.Port(); p != "" {
				h.port, _ = strconv.Atoi(p)
			}
		} else {
			if i := strings.LastIndex(part, "@"); i >= 0 {
				h.user, part = part[:i], part[i+1:]
			}
			h.host = part
			if host, port, err := net.SplitHostPort(part); err == nil {
				p, err := strconv.Atoi(port)
				if err != nil {
					return nil, fmt.Errorf("ProxyJump %q: bad port", part)
				}
				h.host, h.port = host, p
			}
		}
		if h.host == "" {
			return nil, fmt.Errorf("ProxyJump %q: no host", s)
		}
		hops = append(hops, h)
	}
	if len(hops) == 0 {
		return nil, fmt.Errorf("ProxyJump %q: no host", s)
	}
	return hops, nil
}

func joinJumps(hops []jumpHop) string {
	parts := make([]string, len(hops))
	for i, h := range hops {
		s := h.host
		if h.port != 0 {
			s = joinHostPort(h.host, h.port)
		}
		if h.user != "" {
			s = h.user + "@" + s
		}
		parts[i] = s
	}
	return strings.Join(parts, ",")
}
