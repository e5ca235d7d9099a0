// Package acmetest runs a real ACME server on this machine for tests and
// benchmarks of the front door: Pebble (Debian's pebble package, Let's
// Encrypt's test CA) with pebble-challtestsrv as its DNS, so any test domain
// resolves to where the test says.
//
// The sandbox shares this machine's network: Pebble validates on ports 80
// and 443 of 127.0.0.1, where the sandbox's Caddy listens.
package acmetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/syncbuf"
)

// Prereq says what to install when Pebble is missing.
const Prereq = "the ACME test server Pebble: apt-get install pebble"

// Available is true when pebble and pebble-challtestsrv are on PATH.
func Available() bool {
	for _, b := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(b); err != nil {
			return false
		}
	}
	return true
}

// Options configures Start.
type Options struct {
	// Validity of the certificates issued (Pebble's default: 5 years). A
	// short one makes Caddy renew within a test.
	Validity time.Duration
	// Blocklist are domains the CA refuses (rejectedIdentifier).
	Blocklist []string
	// HTTPPort and TLSPort are where Pebble connects to validate (0: 80
	// and 443). A port nobody listens on plays a firewall.
	HTTPPort, TLSPort int
	// Dir holds the config, keys and logs; "" is a new temporary folder.
	Dir string
}

// Server is a running Pebble and its DNS.
type Server struct {
	dir       string
	dirURL    string
	mgmt      string
	dnsMgmt   string
	listenPEM []byte
	procs     []*exec.Cmd
	logs      []*syncbuf.Buffer
	client    *http.Client
}

// Start runs pebble-challtestsrv and pebble, and waits until Pebble's
// directory answers. Stop with Close.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	if !Available() {
		return nil, errors.New("acmetest: needs " + Prereq)
	}
	s := &Server{dir: o.Dir}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "slipway-acmetest-"); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var ports [4]int
	for i := range ports {
		if ports[i], err = freeport.Pick(); err != nil {
			return nil, err
		}
	}
	acme, mgmt, dns, dnsMgmt := addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3])
	s.dirURL, s.mgmt, s.dnsMgmt = "https://"+acme+"/dir", "https://"+mgmt, "http://"+dnsMgmt
	certFile, keyFile := filepath.Join(s.dir, "listener.pem"), filepath.Join(s.dir, "listener.key")
	if s.listenPEM, err = listenerCert(certFile, keyFile); err != nil {
		return nil, err
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = 80
	}
	if o.TLSPort == 0 {
		o.TLSPort = 443
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": acme, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": o.HTTPPort, "tlsPort": o.TLSPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"domainBlocklist":           append([]string{}, o.Blocklist...),
		"certificateValidityPeriod": int64(o.Validity / time.Second),
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(s.dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		return nil, err
	}
	// No default address: a name resolves only once AddA says where.
	if err := s.start(ctx, nil, "pebble-challtestsrv", "-dns01", dns, "-management", dnsMgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", ""); err != nil {
		return nil, err
	}
	// No random 0-15 s before each validation, no nonces rejected on purpose.
	if err := s.start(ctx, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "pebble", "-config", cfgFile, "-dnsserver", dns); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.listenPEM)
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := s.client.Get(s.dirURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pebble not answering at %s: %v\n%s", s.dirURL, err, s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s, nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (s *Server) start(ctx context.Context, env []string, name string, arg ...string) error {
	cmd := exec.CommandContext(ctx, name, arg...)
	cmd.Env = append(os.Environ(), env...)
	buf := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs, s.logs = append(s.procs, cmd), append(s.logs, buf)
	return nil
}

// Close stops both servers and removes their folder.
func (s *Server) Close() {
	for _, p := range s.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	s.procs = nil
	os.RemoveAll(s.dir)
}

// Logs is what both servers printed so far.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, l := range s.logs {
		b.WriteString(l.String())
	}
	return b.String()
}

// Accounts is how many ACME accounts Pebble holds (its log says so after
// each registration).
func (s *Server) Accounts() int {
	n := 0
	for _, m := range accountsRE.FindAllStringSubmatch(s.Logs(), -1) {
		if k, _ := strconv.Atoi(m[1]); k > n {
			n = k
		}
	}
	return n
}

var accountsRE = regexp.MustCompile(`There are now (\d+) accounts in memory`)

// Directory is the ACME directory URL, for ACME_CA.
func (s *Server) Directory() string { return s.dirURL }

// HTTPClient is a client that trusts Pebble's listener: an ACME client's
// transport to Directory.
func (s *Server) HTTPClient() *http.Client { return s.client }

// ListenerCA is the PEM of the CA of Pebble's own HTTPS listener: Caddy
// must trust it to talk ACME (TrustListener).
func (s *Server) ListenerCA() []byte { return s.listenPEM }

// Roots returns the root of the certificates Pebble issues (a new one each
// start): a client trusting only these trusts only Pebble's certificates.
func (s *Server) Roots(ctx context.Context) (*x509.CertPool, []byte, error) {
	b, err := s.get(ctx, s.mgmt+"/roots/0")
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, nil, fmt.Errorf("pebble root: no certificate in %q", b)
	}
	return pool, b, nil
}

func (s *Server) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %v: %s", url, resp.Status, err, b)
	}
	return b, nil
}

// Intermediate is the PEM of the CA that signs Pebble's certificates.
func (s *Server) Intermediate(ctx context.Context) ([]byte, error) {
	return s.get(ctx, s.mgmt+"/intermediates/0")
}

// AddA makes host resolve to ip for Pebble's validations.
func (s *Server) AddA(ctx context.Context, host, ip string) error {
	return s.dnsPost(ctx, "/add-a", map[string]any{"host": host, "addresses": []string{ip}})
}

// ClearA makes host resolve to nothing again.
func (s *Server) ClearA(ctx context.Context, host string) error {
	return s.dnsPost(ctx, "/clear-a", map[string]any{"host": host})
}

func (s *Server) dnsPost(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.dnsMgmt+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("challtestsrv %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("challtestsrv %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

// Runner runs a command as root on the server (service.Runner's RunRoot).
type Runner interface {
	RunRoot(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
}

// TrustListener adds Pebble's listener CA to the server's system trust
// store, where Caddy (Go's x509 roots) finds it, as one would a company CA.
func (s *Server) TrustListener(ctx context.Context, r Runner) error {
	// One file per server: several may be trusted at once.
	crt := "/usr/local/share/ca-certificates/slipway-acmetest-" + strings.ReplaceAll(strings.TrimPrefix(s.dirURL, "https://"), "/", "-") + ".crt"
	for _, c := range []struct {
		cmd string
		in  io.Reader
	}{
		{"install -m 644 /dev/stdin " + remote.Quote(crt), bytes.NewReader(s.listenPEM)},
		{"update-ca-certificates", nil},
	} {
		if out, err := r.RunRoot(ctx, c.cmd, c.in); err != nil {
			return fmt.Errorf("trust pebble's listener: %w: %s", err, out)
		}
	}
	return nil
}

// Untrust removes what TrustListener added, for every server.
func Untrust(ctx context.Context, r Runner) error {
	// The certificates' names are not known here: list the folder, then
	// remove those TrustListener wrote.
	const dir = "/usr/local/share/ca-certificates"
	out, err := r.RunRoot(ctx, "ls -A "+dir, nil)
	if err != nil {
		return fmt.Errorf("untrust pebble's listener: %w: %s", err, out)
	}
	rm := []string{"rm", "-f", "--"}
	for _, name := range strings.Fields(string(out)) {
		if strings.HasPrefix(name, "slipway-acmetest-") && strings.HasSuffix(name, ".crt") {
			rm = append(rm, dir+"/"+name)
		}
	}
	for _, cmd := range []string{remote.QuoteAll(rm), "update-ca-certificates --fresh"} {
		if out, err := r.RunRoot(ctx, cmd, nil); err != nil {
			return fmt.Errorf("untrust pebble's listener: %w: %s", err, out)
		}
	}
	return nil
}

// listenerCert writes a certificate for 127.0.0.1 and localhost, signed by
// a throwaway CA, and returns that CA's PEM.
func listenerCert(certFile, keyFile string) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slipway acmetest listener CA " + serial.Text(16)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pebble"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// Transport reaches every name on this machine (127.0.0.1, the port kept)
// trusting only pool, keep-alive like a reverse proxy. Its connections come
// from the local address from ("" lets the kernel pick 127.0.0.1): another
// loopback address tells a client from Caddy.
func Transport(pool *x509.CertPool, from string) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
	}
}
