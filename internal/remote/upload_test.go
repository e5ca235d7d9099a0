package remote_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

func randomFile(t *testing.T, size int) (path, sum string) {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}

func TestUploadStreamsWithProgress(t *testing.T) {
	srv := sshdtest.Start(t)
	c := mustDial(t, srv)
	local, sum := randomFile(t, 3<<20)
	dst := filepath.Join(t.TempDir(), "app")
	var last, total int64
	calls := 0
	err := c.Upload(context.Background(), local, dst, 0o755, func(sent, tot int64) { last, total = sent, tot; calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if last != 3<<20 || total != 3<<20 || calls < 5 {
		t.Errorf("progress: last %d total %d calls %d", last, total, calls)
	}
	out, err := c.Run(context.Background(), "sha256sum "+dst+" && stat -c %a "+dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), sum) || !strings.HasSuffix(string(out), "755\n") {
		t.Errorf("remote file: %q, want sha %s mode 755", out, sum)
	}
	if err := c.Upload(context.Background(), local, "/tmp/x y", 0o644, nil); err == nil {
		t.Error("a path needing quotes was accepted")
	}
}

// A connection cut mid-upload fails the upload, and the next one over a
// fresh connection puts the whole file at the same path: the partial file
// (which deploy keeps under a temporary name) never stands in its way.
func TestUploadCutThenRetryPutsTheWholeFile(t *testing.T) {
	srv := sshdtest.Start(t)
	proxy := sshdtest.StartProxy(t, srv.Addr())
	srv.AddAlias(t, "flaky", proxy.Port)
	c, err := dial(t, srv, "flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	local, sum := randomFile(t, 16<<20)
	dir := t.TempDir()
	dst := filepath.Join(dir, ".upload-app")
	proxy.CutAfter(proxy.BytesUp() + 4<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.Upload(ctx, local, dst, 0o755, nil)
	if err == nil {
		t.Fatal("upload through a cut connection succeeded")
	}
	t.Logf("upload error: %v", err)
	if fi, err := os.Stat(dst); err == nil && fi.Size() >= 16<<20 {
		t.Fatalf("the cut upload left a whole file (%d bytes)", fi.Size())
	}
	c2 := mustDial(t, srv)
	if err := c2.Upload(context.Background(), local, dst, 0o755, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
		t.Errorf("after the retry %s holds %d bytes that are not the file", dst, len(b))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d entries, want the upload alone", dir, len(entries))
	}
}
