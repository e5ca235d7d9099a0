package clientip

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientBelievesForwardedHeadersOnlyFromTrustedPeers(t *testing.T) {
	p, err := ParseProxies("10.0.0.0/8, 127.0.0.1 ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer, xff, proto string
		want                   string
		https                  bool
	}{
		{"no proxy trusted: the peer", "203.0.113.9:5000", "198.51.100.1", "https", "203.0.113.9", false},
		{"trusted peer: the address it saw", "127.0.0.1:5000", "198.51.100.1", "https", "198.51.100.1", true},
		{"a spoofed left entry is skipped", "127.0.0.1:5000", "6.6.6.6, 198.51.100.1", "http", "198.51.100.1", false},
		{"trusted hops are walked", "10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "", "198.51.100.1", false},
		{"all hops trusted: the leftmost", "10.1.2.3:5000", "10.4.4.4, 10.9.9.9", "", "10.4.4.4", false},
		{"garbage stops the walk at the last vouched hop", "127.0.0.1:5000", "198.51.100.1, nonsense", "", "127.0.0.1", false},
		{"IPv6 peer", "[::1]:5000", "[2001:db8::7]:443", "", "2001:db8::7", false},
		{"no header from a trusted peer: the peer", "127.0.0.1:5000", "", "", "127.0.0.1", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		c := p.Client(r)
		if c.Addr.String() != tc.want || c.HTTPS != tc.https {
			t.Errorf("%s: %s https=%v, want %s https=%v", tc.name, c.Addr, c.HTTPS, tc.want, tc.https)
		}
	}
	// Untrusted peers can't claim TLS either; real TLS counts.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.9:5000"
	r.TLS = &tls.ConnectionState{}
	if c := (Proxies{}).Client(r); !c.HTTPS {
		t.Error("a TLS request is not HTTPS")
	}
}

func TestBadProxyListIsOneLineNamingTheEntry(t *testing.T) {
	_, err := ParseProxies("10.0.0.0/8,10.0.0/33")
	if err == nil || !strings.Contains(err.Error(), `"10.0.0/33"`) || !strings.Contains(err.Error(), "TRUSTED_PROXIES=") || strings.Contains(err.Error(), "\n") {
		t.Errorf("got %v", err)
	}
}

func TestIPv6ClientsShareTheirSlash64(t *testing.T) {
	a := Bucket(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := Bucket(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	c := Bucket(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a != "2001:db8:1:2::/64" || a == c {
		t.Errorf("buckets %s %s %s", a, b, c)
	}
	if v4 := Bucket(netip.MustParseAddr("::ffff:192.0.2.1")); v4 != "192.0.2.1" {
		t.Errorf("mapped IPv4: %s", v4)
	}
}

// TestOnlyTheProxySocketIsBelieved serves one handler on a loopback TCP
// listener, as the app's own socket, and on a unix socket wrapped by
// ProxyListener, as Caddy's: the same forged headers count on the second
// only (issue 25 item 8: every local user reaches loopback TCP).
func TestOnlyTheProxySocketIsBelieved(t *testing.T) {
	seen := make(chan Client, 1)
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- Proxies{}.Client(r) }),
		ConnContext: ConnContext,
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tcp)
	go srv.Serve(ProxyListener(unix))
	t.Cleanup(func() { srv.Close() })

	overUnix := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	get := func(c *http.Client, url string) Client {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-seen
	}
	if c := get(http.DefaultClient, "http://"+tcp.Addr().String()+"/"); c.Addr.String() != "127.0.0.1" || c.HTTPS {
		t.Errorf("over loopback TCP: %s https=%v, want 127.0.0.1, not https", c.Addr, c.HTTPS)
	}
	if c := get(overUnix, "http://proxy/"); c.Addr.String() != "198.51.100.7" || !c.HTTPS {
		t.Errorf("on the proxy socket: %s https=%v, want 198.51.100.7 over https", c.Addr, c.HTTPS)
	}
}
