package s3test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestServerServesObjectsOverTLSToSignedRequestsOnly(t *testing.T) {
	s := Start(t)
	// The posix backend: a file in the bucket's folder is an object.
	want := []byte("an object written on disk\n")
	if err := os.MkdirAll(filepath.Dir(s.ObjectPath("repo/a/b.txt")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.ObjectPath("repo/a/b.txt"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, "repo/a/b.txt"); !bytes.Equal(got, want) {
		t.Errorf("get: %q, want %q", got, want)
	}
	if keys := s.List(t, "repo/"); !slices.Equal(keys, []string{"repo/a/b.txt"}) {
		t.Errorf("list: %q", keys)
	}
	// A wrong secret is refused.
	bad := *s
	bad.Secret = "not-the-secret"
	if err := bad.do(context.Background(), http.MethodGet, "/"+s.Bucket+"/repo/a/b.txt", nil, http.StatusOK); err == nil {
		t.Error("a request signed with a wrong secret was served")
	}
	// Only TLS, with the test's CA: a client trusting the system's CAs
	// refuses the certificate.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if resp, err := c.Get("https://" + s.Endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Error("the server's certificate verified without the test's CA")
	}
	// Stopped, it refuses; restarted, it serves the same objects.
	s.Stop()
	if err := s.do(context.Background(), http.MethodGet, "/"+s.Bucket+"/repo/a/b.txt", nil, http.StatusOK); err == nil {
		t.Error("served while stopped")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := s.Get(t, "repo/a/b.txt"); !bytes.Equal(got, want) {
		t.Errorf("get after restart: %q", got)
	}
}
