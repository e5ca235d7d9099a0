package remote

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// caLines are the `@cert-authority` lines of the known_hosts files.
type caLines struct {
	at       map[string]bool // "file:line"
	patterns []string        // each line's host patterns, as written
}

// readCALines finds the `@cert-authority` lines, which knownhosts reads but
// does not tell apart from host keys in a KeyError.
func readCALines(files []string) (caLines, error) {
	cas := caLines{at: map[string]bool{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return cas, fmt.Errorf("read known_hosts: %w", err)
		}
		for n, line := range bytes.Split(b, []byte("\n")) {
			marker, hosts, _, _, _, err := ssh.ParseKnownHosts(line)
			if err != nil || marker != "cert-authority" {
				continue
			}
			cas.at[fmt.Sprintf("%s:%d", f, n+1)] = true
			cas.patterns = append(cas.patterns, strings.Join(hosts, ","))
		}
	}
	return cas, nil
}

// without drops the CA lines from keys.
func (c caLines) without(keys []knownhosts.KnownKey) []knownhosts.KnownKey {
	var out []knownhosts.KnownKey
	for _, k := range keys {
		if !c.at[fmt.Sprintf("%s:%d", k.Filename, k.Line)] {
			out = append(out, k)
		}
	}
	return out
}

// cover reports whether a CA line's host patterns match hostPort, matched
// by knownhosts itself (wildcards, negations, hashed names): the same
// patterns with a CA of our own, which then signs a probe certificate.
func (c caLines) cover(hostPort string, addr net.Addr) (bool, error) {
	if len(c.patterns) == 0 {
		return false, nil
	}
	caPub, caPriv, err := probeKey()
	if err != nil {
		return false, err
	}
	var b strings.Builder
	for _, p := range c.patterns {
		fmt.Fprintf(&b, "@cert-authority %s %s", p, ssh.MarshalAuthorizedKey(caPub))
	}
	dir, err := os.MkdirTemp("", "slipway-ca-probe-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return false, err
	}
	db, err := knownhosts.New(path)
	if err != nil {
		return false, fmt.Errorf("read known_hosts: %w", err)
	}
	hostPub, _, err := probeKey()
	if err != nil {
		return false, err
	}
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false, err
	}
	cert := &ssh.Certificate{
		Key: hostPub, CertType: ssh.HostCert, ValidPrincipals: []string{strings.Trim(host, "[]")},
		ValidAfter: 0, ValidBefore: uint64(time.Now().Add(time.Hour).Unix()),
	}
	signer, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		return false, err
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		return false, err
	}
	// Any refusal (no authority for this host) means no CA line covers it.
	return db(hostPort, addr, cert) == nil, nil
}
