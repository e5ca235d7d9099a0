package deploy

// The topology of several app hosts: the first host's PostgreSQL reached
// by the others over TCP with TLS, sslmode=verify-full against a CA the
// test makes (the certificate's SAN is the address they connect to), as
// docs/deploy.md's "Several hosts" sets it up.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
)

// dbCAPath is where the app hosts keep the database's CA certificate
// (public: any user may read it).
const dbCAPath = "/etc/ssl/slipway-test-db-ca.pem"

// testCA is a certificate authority of the test's own and a server
// certificate it signed for one IP address.
type testCA struct {
	caPEM, certPEM, keyPEM []byte
}

func newTestCA(t testing.TB, ip netip.Addr) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slipway test database CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{ip.AsSlice()}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// install writes content to file on sb with mode and owner, through stdin.
func install(t testing.TB, sb *sandbox.Instance, file, mode, owner string, content []byte) {
	t.Helper()
	cmd := sb.Command(context.Background(), "install", "-D", "-m", mode, "-o", owner, "-g", owner, "/dev/stdin", file)
	cmd.Stdin = strings.NewReader(string(content))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write %s: %v: %s", file, err, out)
	}
}

// serveDatabaseOverTLS makes db's PostgreSQL listen on addr:5432 (beside
// its socket) with TLS only, for role app from the clients prefix with its
// password, and gives each client host the CA. It returns the URL of db's
// database name, as the clients reach it: verify-full against the CA.
func serveDatabaseOverTLS(t testing.TB, db *sandbox.Instance, addr netip.Addr, clientsFrom netip.Prefix, name string, clients ...*sandbox.Instance) string {
	t.Helper()
	ca := newTestCA(t, addr)
	dir := "/etc/postgresql/slipway-test-tls"
	install(t, db, dir+"/server.crt", "644", "postgres", ca.certPEM)
	install(t, db, dir+"/server.key", "600", "postgres", ca.keyPEM)
	// zz-: after the sandbox's own conf.d file, which says socket only.
	conf := fmt.Sprintf("listen_addresses = '%s'\nssl = on\nssl_cert_file = '%s/server.crt'\nssl_key_file = '%s/server.key'\n", addr, dir, dir)
	sandboxtest.Run(t, db, "sh", "-c", `v=$(ls /etc/postgresql | grep -v slipway); printf '%s' "$1" > /etc/postgresql/$v/main/conf.d/zz-several-hosts.conf
hba=/etc/postgresql/$v/main/pg_hba.conf; grep -qxF "$2" $hba || sed -i "1i $2" $hba
systemctl restart postgresql@$v-main`, "sh", conf, "hostssl all app "+clientsFrom.String()+" scram-sha-256")
	for _, c := range append([]*sandbox.Instance{db}, clients...) {
		install(t, c, dbCAPath, "644", "root", ca.caPEM)
	}
	local, err := db.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(local)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {dbCAPath}}
	return (&url.URL{Scheme: "postgres", User: url.UserPassword("app", pw), Host: netip.AddrPortFrom(addr, 5432).String(), Path: "/" + name, RawQuery: q.Encode()}).String()
}

var (
	sharedOnce sync.Once
	sharedURL  string
	sharedErr  string
)

// sharedDatabase is the package's two sandboxes (they share this
// machine's network) with the first's PostgreSQL also on a loopback
// address of its own, 127.x.y.1:5432, over TLS: the URL the second uses
// for the database app.
func sharedDatabase(t *testing.T) string {
	t.Helper()
	a, b := sandboxtest.Get(t), sandboxtest.Second(t)
	sharedOnce.Do(func() {
		addr := netip.AddrFrom4([4]byte{127, byte(2 + mrand.IntN(250)), byte(2 + mrand.IntN(250)), 1})
		ok := false
		defer func() {
			if !ok {
				sharedErr = "serving the database over TLS failed in an earlier test"
			}
		}()
		sharedURL = serveDatabaseOverTLS(t, a, addr, netip.MustParsePrefix("127.0.0.0/8"), "app", b)
		ok = true
	})
	if sharedErr != "" {
		t.Fatal(sharedErr)
	}
	return sharedURL
}
