// Package s3test runs a real S3-compatible server on this machine for tests:
// Versity's versitygw (its posix backend: each bucket a folder, each object a
// file) over TLS, with a CA and certificate the test makes, since pgBackRest
// speaks only HTTPS to S3. The sandbox shares this machine's network, so the
// server's 127.0.0.1 address is the sandbox's too.
//
// versitygw is not packaged in Debian: the first Start builds it from the Go
// module proxy (go install, no replace directives in its module) into
// CacheDir, and later runs reuse that binary.
//
//	s := s3test.Start(t)
//	// s.Endpoint, s.Bucket, s.Key, s.Secret, s.CAPEM
//	obj := s.Get(t, "repo/archive/app/archive.info")
package s3test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/syncbuf"
	"github.com/slipway-dev/slipway/internal/testenv"
)

// Module and Version are the server built: versitygw's command at a pinned
// release.
const (
	Module  = "github.com/versity/versitygw/cmd/versitygw"
	Version = "v1.8.0"
)

// CacheDir keeps the built binary between runs (and between test packages).
const CacheDir = "/var/cache/slipway/s3"

// Region is the region the server answers for.
const Region = "us-east-1"

// Server is one running S3 server with one bucket.
type Server struct {
	// Host and Port are where it listens: "localhost", on 127.0.0.1 and
	// ::1, since pgBackRest 2.45 checks only host names against a
	// certificate (never IP addresses), and resolves localhost to either
	// address. Endpoint is host:port.
	Host     string
	Port     int
	Endpoint string
	// Bucket exists and is empty when Start returns.
	Bucket string
	// Region, Key and Secret sign requests (the server's root account).
	Region, Key, Secret string
	// CAPEM is the CA that signed the server's certificate (for 127.0.0.1
	// and localhost): give it to pgBackRest as repo1-storage-ca-file.
	CAPEM []byte
	// Dir holds the buckets' files (Dir/<bucket>/<key>).
	Dir string

	bin, certFile, keyFile string
	client                 *http.Client
	cmd                    *exec.Cmd
	exited                 <-chan struct{} // closed once cmd is reaped
	log                    *syncbuf.Buffer
}

// Binary returns the cached versitygw, building it first when missing
// (minutes on the first run on a machine: see the package doc).
func Binary() (string, error) {
	bin := filepath.Join(CacheDir, "versitygw-"+Version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", errors.New("s3test: the go command is needed to build versitygw")
	}
	if err := os.MkdirAll(CacheDir, 0o755); err != nil {
		return "", err
	}
	// One build at a time across test binaries: the others wait on the
	// lock, then find the binary.
	lock, err := os.OpenFile(filepath.Join(CacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	gobin, err := os.MkdirTemp(CacheDir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command("go", "install", "-trimpath", "-ldflags=-s -w", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("s3test: go install %s@%s: %v\n%s", Module, Version, err, out)
	}
	if err := os.Rename(filepath.Join(gobin, "versitygw"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Start builds (once) and starts the server on a free port of localhost
// with a bucket named "backups", stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	testenv.Need(t, err == nil, fmt.Sprintf("the S3 test server (%v): install Go and let the test build %s@%s", err, Module, Version))
	s, err := run(bin, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// New is Start outside a test (benchmarks): the server keeps its files
// and TLS material under dir; Stop it when done.
func New(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	data, tlsDir := filepath.Join(dir, "data"), filepath.Join(dir, "tls")
	for _, d := range []string{data, tlsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return run(bin, data, tlsDir)
}

func run(bin, data, tlsDir string) (*Server, error) {
	s := &Server{Region: Region, Bucket: "backups", Dir: data, bin: bin, Host: "localhost"}
	var err error
	if s.Key, err = randHex(4); err != nil {
		return nil, err
	}
	s.Key = "slipwaytest" + s.Key
	if s.Secret, err = randHex(20); err != nil {
		return nil, err
	}
	s.certFile, s.keyFile = filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem")
	pool, err := s.makeCerts()
	if err != nil {
		return nil, err
	}
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if s.Port, err = freeport.Pick(); err != nil {
		return nil, err
	}
	s.Endpoint = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	if err := s.Restart(); err != nil {
		return nil, err
	}
	if err := s.do(context.Background(), http.MethodPut, "/"+s.Bucket, nil, http.StatusOK); err != nil {
		s.Stop()
		return nil, fmt.Errorf("create bucket: %v\n%s", err, s.log.String())
	}
	return s, nil
}

// Restart starts the server (again, after Stop) on the same port, files
// and keys, and waits until it answers.
func (s *Server) Restart() error {
	s.log = new(syncbuf.Buffer)
	port := strconv.Itoa(s.Port)
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+port, "--port", "[::1]:"+port, "--cert", s.certFile, "--key", s.keyFile, "--region", s.Region, "--quiet", "posix", s.Dir)
	// The keys through the environment: argv is world-readable.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.Key, "ROOT_SECRET_ACCESS_KEY="+s.Secret)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited at start: %s", s.log.String())
		default:
		}
		if c, err := tls.Dial("tcp", "127.0.0.1:"+port, s.client.Transport.(*http.Transport).TLSClientConfig); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("versitygw not listening on %s after 20 s: %s", s.Endpoint, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (its files stay: Restart serves them again).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		// Restart's goroutine reaps it: wait for that, not ProcessState,
		// which that goroutine writes.
		select {
		case <-s.exited:
		case <-time.After(2 * time.Second):
		}
		s.cmd = nil
	}
}

// Log is what the server printed.
func (s *Server) Log() string { return s.log.String() }

// Get returns the object key of the bucket, read through the S3 API.
func (s *Server) Get(t testing.TB, key string) []byte {
	t.Helper()
	var body bytes.Buffer
	if err := s.do(context.Background(), http.MethodGet, "/"+s.Bucket+"/"+key, &body, http.StatusOK); err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return body.Bytes()
}

// List returns the keys of the bucket under prefix, through the S3 API
// (ListObjectsV2, every page).
func (s *Server) List(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	token := ""
	for {
		q := "list-type=2&prefix=" + uriEncode(prefix, true)
		if token != "" {
			q = "continuation-token=" + uriEncode(token, true) + "&" + q
		}
		var body bytes.Buffer
		if err := s.do(context.Background(), http.MethodGet, "/"+s.Bucket+"?"+q, &body, http.StatusOK); err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		var res struct {
			Contents []struct {
				Key string `xml:"Key"`
			} `xml:"Contents"`
			IsTruncated           bool   `xml:"IsTruncated"`
			NextContinuationToken string `xml:"NextContinuationToken"`
		}
		if err := xml.Unmarshal(body.Bytes(), &res); err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if !res.IsTruncated {
			return keys
		}
		token = res.NextContinuationToken
	}
}

// ObjectPath is where the object key lies on this machine's disk (the
// posix backend): tests that corrupt an object write there.
func (s *Server) ObjectPath(key string) string { return filepath.Join(s.Dir, s.Bucket, key) }

// do sends a signed request without a body and checks its status.
func (s *Server) do(ctx context.Context, method, target string, out io.Writer, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+s.Endpoint+target, nil)
	if err != nil {
		return err
	}
	sign(req, s.Region, s.Key, s.Secret, time.Now())
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return fmt.Errorf("%s %s: %s: %s", method, target, resp.Status, b)
	}
	if out != nil {
		_, err = io.Copy(out, resp.Body)
	}
	return err
}

// makeCerts writes a CA and the server's certificate (127.0.0.1,
// localhost), and returns a pool holding the CA.
func (s *Server) makeCerts() (*x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "s3test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(s.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, nil
}

func randHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
