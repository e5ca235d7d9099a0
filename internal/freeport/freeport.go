// Package freeport picks a TCP port on 127.0.0.1 that nothing listens on,
// for a server this process starts next: a local PostgreSQL, a test sshd,
// the sandbox's sshd (the sandbox shares the host's network), an app under
// test.
package freeport

import (
	"fmt"
	"net"
	"strconv"
)

// Pick returns a port free on 127.0.0.1 right now. Another process may take
// it before the caller binds it; the servers started on it fail loudly then.
func Pick() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is Pick as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Pick()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}
