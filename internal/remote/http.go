package remote

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// maxBody caps what HTTPGet reads: health and version answers are small.
const maxBody = 1 << 20

// HTTPGet fetches http://addr/path with the TCP connection opened by the
// server (an SSH direct-tcpip channel): it reaches an app listening on the
// server's loopback without curl there or a port open to the world.
func (c *Client) HTTPGet(ctx context.Context, addr, path string) (int, []byte, error) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.ssh.DialContext(ctx, "tcp", addr)
		},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s%s on %s: %w", addr, path, c.cfg.Alias, err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s%s on %s: %w", addr, path, c.cfg.Alias, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("GET %s%s on %s: read body: %w", addr, path, c.cfg.Alias, err)
	}
	return resp.StatusCode, body, nil
}
