package remote_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

// setConfig replaces the client's ssh config with one Host entry for the
// server's alias: HostEntry with replace applied (old, new pairs).
func setConfig(t *testing.T, srv *sshdtest.Server, replace ...string) {
	t.Helper()
	entry := strings.NewReplacer(replace...).Replace(srv.HostEntry(srv.Alias))
	if err := os.WriteFile(srv.ConfigPath, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSHA1RSAHostKeySignaturesAreRefused(t *testing.T) {
	// A server that only signs its rsa host key with SHA-1.
	srv := sshdtest.Start(t, sshdtest.Options{HostKeyTypes: []string{"rsa"}, SSHDConfig: "HostKeyAlgorithms ssh-rsa\n"})
	if _, err := dial(t, srv, srv.Alias, nil); err == nil {
		t.Fatal("connected with an ssh-rsa (SHA-1) host key signature")
	}
	// The same key signed with SHA-2 is fine.
	ok := sshdtest.Start(t, sshdtest.Options{HostKeyTypes: []string{"rsa"}})
	mustDial(t, ok)
}

// An rsa user key still logs in, with SHA-2 (see TestRSAUserKeysNeverSignWithSHA1).
func TestRSAUserKeyLogsInWithSHA2(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{SSHDConfig: "PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256\n"})
	key := filepath.Join(t.TempDir(), "id_rsa")
	srv.Authorize(t, sshdtest.WriteKey(t, key, "rsa"))
	setConfig(t, srv, srv.KeyPath, key)
	mustDial(t, srv)
}

// TestHostCertificateSignedByAKnownCAIsAccepted: known_hosts holds only
// `@cert-authority` for the host, as OpenSSH allows; the server presents a
// host certificate that CA signed.
func TestHostCertificateSignedByAKnownCAIsAccepted(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{HostCA: true, KnownTypes: []string{}})
	if err := os.WriteFile(srv.KnownHostsPath, []byte(srv.CertAuthorityLine()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, srv, srv.Alias, nil)
	if err != nil {
		t.Fatalf("dial with a CA-signed host certificate: %v\nsshd log:\n%s", err, srv.Log())
	}
	c.Close()

	// A CA known_hosts doesn't trust gets nowhere.
	other := sshdtest.Start(t, sshdtest.Options{HostCA: true, KnownTypes: []string{}})
	line := strings.Replace(other.CertAuthorityLine(), strings.TrimSpace(string(marshal(other.CA))), strings.TrimSpace(string(marshal(srv.CA))), 1)
	if err := os.WriteFile(other.KnownHostsPath, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, other, other.Alias, nil); err == nil {
		t.Fatal("accepted a host certificate from a CA known_hosts does not trust")
	}
}

// TestAcceptNewHashesTheHostWithHashKnownHosts: with HashKnownHosts yes,
// OpenSSH records |1|salt|hash instead of the host name; so must we.
func TestAcceptNewHashesTheHostWithHashKnownHosts(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{KnownTypes: []string{}})
	setConfig(t, srv, "StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new\n  HashKnownHosts yes")
	if _, err := dial(t, srv, srv.Alias, nil); err != nil {
		t.Fatal(err)
	}
	kh, _ := os.ReadFile(srv.KnownHostsPath)
	if !strings.HasPrefix(string(kh), "|1|") || strings.Contains(string(kh), "127.0.0.1") {
		t.Errorf("known_hosts %q, want a hashed host", kh)
	}
	setConfig(t, srv) // StrictHostKeyChecking yes: the hashed entry must match
	if _, err := dial(t, srv, srv.Alias, nil); err != nil {
		t.Fatalf("second dial against the hashed entry: %v", err)
	}
}

// TestHostKeyAliasOnTheDefaultPort: known_hosts spells a port-22 host
// without a port ("web-1 ssh-ed25519 ..."), as HostKeyAlias lookups do.
func TestHostKeyAliasOnTheDefaultPort(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.Options{KnownTypes: []string{}})
	line := "web-1 " + string(marshal(srv.HostKeys["ed25519"]))
	if err := os.WriteFile(srv.KnownHostsPath, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	setConfig(t, srv, "StrictHostKeyChecking yes", "StrictHostKeyChecking yes\n  HostKeyAlias web-1")
	if _, err := dial(t, srv, srv.Alias, nil); err != nil {
		t.Fatalf("dial with HostKeyAlias web-1: %v", err)
	}
}

func marshal(k ssh.PublicKey) []byte { return ssh.MarshalAuthorizedKey(k) }
