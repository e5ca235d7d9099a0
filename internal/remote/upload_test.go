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

// A connection cut mid-upload leaves no partial file on the server.
func TestUploadCutLeavesNoPartialFile(t *testing.T) {
	srv := sshdtest.Start(t)
	proxy := sshdtest.StartProxy(t, srv.Addr())
	srv.AddAlias(t, "flaky", proxy.Port)
	c, err := dial(t, srv, "flaky", nil)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := randomFile(t, 16<<20)
	dst := filepath.Join(t.TempDir(), "app")
	proxy.CutAfter(proxy.BytesUp() + 4<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.Upload(ctx, local, dst, 0o755, nil)
	if err == nil {
		t.Fatal("upload through a cut connection succeeded")
	}
	t.Logf("upload error: %v", err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, statErr := os.Stat(dst)
		if os.IsNotExist(statErr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partial file left at %s", dst)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The next attempt over a fresh connection works.
	c2 := mustDial(t, srv)
	if err := c2.Upload(context.Background(), local, dst, 0o755, nil); err != nil {
		t.Fatal(err)
	}
}
