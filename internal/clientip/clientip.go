// Package clientip says who a request comes from: the peer's address, or,
// only when the peer is a trusted reverse proxy, the address the proxy
// recorded in X-Forwarded-For. Nothing else changes the client address.
//
// A proxy is trusted by its address (TRUSTED_PROXIES), or by the socket it
// connects to: a listener wrapped by ProxyListener, a unix socket whose
// file mode lets only the proxy connect. On loopback TCP every local user
// is a peer at 127.0.0.1: trusting that address lets any of them claim to
// be any client.
package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of peers (TRUSTED_PROXIES) whose X-Forwarded-For and
// X-Forwarded-Proto are believed. The zero value trusts nobody.
type Proxies struct{ nets []netip.Prefix }

// ParseProxies reads a comma- or space-separated list of CIDRs or single
// addresses, e.g. "127.0.0.1/32, 10.0.0.0/8, ::1".
func ParseProxies(s string) (Proxies, error) {
	var p Proxies
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if pfx, err := netip.ParsePrefix(f); err == nil {
			p.nets = append(p.nets, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return Proxies{}, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR or an IP address: use e.g. TRUSTED_PROXIES=127.0.0.1/32,::1/128 (your reverse proxy's addresses)", f)
		}
		a = a.Unmap()
		p.nets = append(p.nets, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// String lists the trusted networks.
func (p Proxies) String() string {
	s := make([]string, len(p.nets))
	for i, n := range p.nets {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

// Empty is true when no proxy is trusted.
func (p Proxies) Empty() bool { return len(p.nets) == 0 }

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Client is where a request comes from.
type Client struct {
	Addr netip.Addr
	// HTTPS is true when the request reached us over TLS, or a trusted
	// proxy says it reached the proxy over TLS.
	HTTPS bool
}

// ProxyListener marks ln as the trusted proxy's own socket: requests on the
// connections it accepts have their X-Forwarded-* believed, whatever the
// peer's address, provided the server's ConnContext is ConnContext.
func ProxyListener(ln net.Listener) net.Listener { return proxyListener{ln} }

type proxyListener struct{ net.Listener }

func (l proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return proxyConn{c}, nil
}

// proxyConn is a connection accepted on a ProxyListener.
type proxyConn struct{ net.Conn }

type viaProxyKey struct{}

// ConnContext is for http.Server.ConnContext: it marks the requests of
// connections accepted on a ProxyListener.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if _, ok := c.(proxyConn); ok {
		return context.WithValue(ctx, viaProxyKey{}, true)
	}
	return ctx
}

// viaProxy reports whether r came on a ProxyListener's connection.
func viaProxy(r *http.Request) bool {
	v, _ := r.Context().Value(viaProxyKey{}).(bool)
	return v
}

// Client returns the request's client. From an untrusted peer, that is the
// peer. From a trusted one (by address, or on a ProxyListener), it walks X-Forwarded-For from the right (each
// proxy appends the address it saw) past trusted hops: the first untrusted
// address is the client, since only what trusted proxies appended can be
// believed and anything to its left may be made up by the client.
func (p Proxies) Client(r *http.Request) Client {
	peer := peerAddr(r)
	c := Client{Addr: peer, HTTPS: r.TLS != nil}
	if !viaProxy(r) && (!peer.IsValid() || !p.trusted(peer)) {
		return c
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // garbage: keep the last address a trusted hop vouched for
		}
		c.Addr = a.Unmap()
		if !p.trusted(a) {
			break
		}
	}
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 0 {
		protos := strings.Split(v[len(v)-1], ",")
		c.HTTPS = strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
	}
	return c
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func forwardedFor(headers []string) []string {
	var hops []string
	for _, h := range headers {
		for _, f := range strings.Split(h, ",") {
			f = strings.TrimSpace(f)
			// Some proxies add the port: "[2001:db8::1]:4711", "1.2.3.4:80".
			if host, _, err := net.SplitHostPort(f); err == nil {
				f = host
			}
			hops = append(hops, f)
		}
	}
	return hops
}

// Bucket is the key a client is counted under: an IPv4 address, or the
// /64 an IPv6 address belongs to (one subscriber usually gets a whole /64,
// so single IPv6 addresses are free to rotate through).
func Bucket(a netip.Addr) string {
	a = a.Unmap()
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
