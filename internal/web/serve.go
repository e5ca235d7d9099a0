package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/slipway-dev/slipway/internal/clientip"
)

// ProxyFDName is the name (FileDescriptorName=) of the socket systemd
// passes for the front door, Caddy's (internal/frontdoor).
const ProxyFDName = "proxy"

// Listeners are the sockets the app serves on.
type Listeners struct {
	// App is the app's own socket: systemd's (socket activation, LISTEN_FDS
	// set) or a new listener on ADDR.
	App net.Listener
	// Proxy is the front door's socket, which only the reverse proxy can
	// connect to (a unix socket, root:caddy 0660), wrapped by
	// clientip.ProxyListener: X-Forwarded-* are believed on it. nil without
	// a front door.
	Proxy net.Listener
	// Activated is true when the sockets came from systemd.
	Activated bool
}

// Listen returns the sockets systemd passed, or a new listener on addr.
func Listen(addr string) (Listeners, error) {
	named, err := activation.ListenersWithNames()
	if err != nil {
		return Listeners{}, fmt.Errorf("systemd sockets: %w", err)
	}
	var ls Listeners
	for name, lns := range named {
		for _, ln := range lns {
			if ln == nil {
				return Listeners{}, errors.New("systemd passed a socket that is not a stream listener: use ListenStream= in the .socket unit")
			}
			if err := boundAccept(ln); err != nil {
				return Listeners{}, err
			}
			switch {
			case name == ProxyFDName && ls.Proxy == nil:
				ls.Proxy = clientip.ProxyListener(ln)
			case name != ProxyFDName && ls.App == nil:
				ls.App = ln
			default:
				return Listeners{}, fmt.Errorf("systemd passed two sockets named %q: keep one ListenStream= in the .socket unit", name)
			}
		}
	}
	if len(named) > 0 {
		if ls.App == nil {
			return Listeners{}, errors.New("systemd passed only the front door's socket: add the app's own socket unit to Sockets=")
		}
		ls.Activated = true
		return ls, nil
	}
	ls.App, err = net.Listen("tcp", addr)
	if err != nil {
		return Listeners{}, fmt.Errorf("listen on %s: %w (set ADDR to a free address)", addr, err)
	}
	return ls, nil
}

// acceptTimeout bounds an accept() that blocks in the kernel: see boundAccept.
const acceptTimeout = 200 * time.Millisecond

// boundAccept sets SO_RCVTIMEO on a shared listening socket. Its O_NONBLOCK
// flag belongs to the open file description that every instance holds:
// whenever a process starts on the socket, systemd (without NonBlocking=)
// and Go's net.FileListener (through os.File.Fd) clear it for a moment, and
// an instance entering accept() then blocks in the kernel instead of the
// poller. Blocked there, it cannot close its listener, and its stop hangs
// until systemd kills it (measured: 45 s, TimeoutStopSec). With the timeout
// such an accept returns EAGAIN within acceptTimeout and Go goes back to
// its poller; a non-blocking accept ignores it.
func boundAccept(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("systemd socket: %w", err)
	}
	tv := syscall.NsecToTimeval(acceptTimeout.Nanoseconds())
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptTimeval(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	}); err != nil {
		return fmt.Errorf("systemd socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("systemd socket: set SO_RCVTIMEO: %w", serr)
	}
	return nil
}

// ServeOptions tunes Serve.
type ServeOptions struct {
	Log             *slog.Logger
	ShutdownTimeout time.Duration // in-flight requests get this long once stopping
	// DrainDelay separates closing the listener from shutting connections:
	// a connection accepted just before the close gets its request read
	// instead of being cut. 250 ms measured zero dropped requests.
	DrainDelay time.Duration
	// Ready gates accepting: Serve takes no connection and sends no READY=1
	// until it returns nil (polled every ReadyPoll, 100 ms by default: each
	// poll a deploy waits is a poll the new release is not serving), so
	// a release beside a live one on a shared socket never answers before
	// its own /readyz would say ready. nil accepts at once.
	Ready     func(context.Context) error
	ReadyPoll time.Duration
	// Status is sent with READY=1 as systemd's STATUS= (e.g. version and
	// commit), for a deploy to check this very instance.
	Status string
	// ReadTimeout bounds reading one whole request, body included
	// (default ReadTimeout).
	ReadTimeout time.Duration
	// Proxy is served too, as ln is (Listeners.Proxy); nil for none.
	Proxy net.Listener
}

// Limits on every connection, so slow or huge requests can't hold the
// server's goroutines and memory. The app serves small pages and forms:
// nothing needs more.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 20 * time.Second
	// WriteTimeout covers the handler too: the slowest is a login waiting
	// for a hashing slot (seconds), far below this.
	WriteTimeout   = 60 * time.Second
	IdleTimeout    = 2 * time.Minute
	MaxHeaderBytes = 32 << 10
)

// Serve serves h on ln until ctx is done, then stops without losing a
// request: it tells systemd it is stopping, stops accepting (with socket
// activation the kernel keeps queueing for the next process), turns off
// keep-alive, waits DrainDelay, and lets in-flight requests finish.
// It tells systemd READY=1 once serving; call it only after migrations.
// Stopped while still waiting for Ready, it returns nil without serving.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o ServeOptions) error {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.DrainDelay < 0 {
		o.DrainDelay = 0
	}
	if o.ReadyPoll <= 0 {
		o.ReadyPoll = 100 * time.Millisecond
	}
	if !waitReady(ctx, o) {
		o.Log.Info("stopped before it was ready: served nothing")
		return nil
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = ReadTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
		// Marks the requests that came on the front door's socket.
		ConnContext: clientip.ConnContext,
	}
	lns := []net.Listener{ln}
	if o.Proxy != nil {
		lns = append(lns, o.Proxy)
	}
	served := make(chan error, len(lns))
	for _, l := range lns {
		go func() { served <- srv.Serve(l) }()
	}
	state := daemon.SdNotifyReady
	if o.Status != "" {
		state += "\nSTATUS=" + o.Status
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		o.Log.Warn("systemd notify failed", "err", err)
	}
	if o.Proxy != nil {
		o.Log.Info("serving", "addr", ln.Addr().String(), "proxy", o.Proxy.Addr().String())
	} else {
		o.Log.Info("serving", "addr", ln.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	o.Log.Info("stopping: finishing in-flight requests", "timeout", o.ShutdownTimeout.String())
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	srv.SetKeepAlivesEnabled(false)
	for _, l := range lns {
		_ = l.Close()
	}
	time.Sleep(o.DrainDelay)

	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: in-flight requests still running after %s: %w", o.ShutdownTimeout, err)
	}
	o.Log.Info("stopped")
	return nil
}

// waitReady polls o.Ready until it passes (true) or ctx ends (false),
// telling systemd why it waits (STATUS=) and logging each new reason once.
func waitReady(ctx context.Context, o ServeOptions) bool {
	if o.Ready == nil {
		return true
	}
	last := ""
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := o.Ready(rctx)
		cancel()
		if err == nil {
			return true
		}
		if why := err.Error(); why != last {
			last = why
			o.Log.Warn("not ready: not accepting yet", "reason", why)
			_, _ = daemon.SdNotify(false, "STATUS=not ready: "+why)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(o.ReadyPoll):
		}
	}
}
