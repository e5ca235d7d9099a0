package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// Binary is a built slipway-helper.
type Binary struct {
	Path   string
	SHA256 string
	GOARCH string
}

var (
	buildMu sync.Mutex
	built   = map[string]Binary{} // by GOARCH, for this process
)

// Package is slipway-helper's import path.
func Package() string { return slipversion.Module() + "/cmd/slipway-helper" }

// Build returns slipway-helper for linux/goarch ("" is amd64), built from
// the Slipway module this program was built with: reproducible (-trimpath,
// no build ID), static, stripped. It is built once per process and, when
// Slipway is a dependency at a fixed version, once per version: kept in
// the user's cache folder under that version. A development tree (Slipway
// is the main module) rebuilds it each process, which the go build cache
// makes a link step.
func Build(ctx context.Context, goarch string) (Binary, error) {
	if goarch == "" {
		goarch = "amd64"
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := built[goarch]; ok {
		return b, nil
	}
	dir, cached := cacheDir(goarch)
	out := filepath.Join(dir, "slipway-helper")
	if cached {
		if b, err := binaryAt(out, goarch); err == nil {
			built[goarch] = b
			return b, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binary{}, fmt.Errorf("build slipway-helper: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".slipway-helper-*")
	if err != nil {
		return Binary{}, fmt.Errorf("build slipway-helper: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp.Name(), "-ldflags=-s -w -buildid=", Package())
	cmd.Env = build.Env(goarch, nil)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return Binary{}, fmt.Errorf("build slipway-helper (go build %s, GOARCH=%s): %w: %s", Package(), goarch, err, strings.TrimSpace(msg.String()))
	}
	b, err := binaryAt(tmp.Name(), goarch)
	if err != nil {
		return Binary{}, err
	}
	if !cached {
		// Named after its content: another process's build never changes it.
		out = filepath.Join(dir, "slipway-helper-"+b.SHA256)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return Binary{}, fmt.Errorf("build slipway-helper: %w", err)
	}
	b.Path = out
	built[goarch] = b
	return b, nil
}

func binaryAt(path, goarch string) (Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Binary{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Binary{}, err
	}
	return Binary{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), GOARCH: goarch}, nil
}

// cacheDir is where the helper for goarch goes, and whether it is keyed by
// a fixed Slipway version (so one built earlier can be reused).
func cacheDir(goarch string) (string, bool) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	base = filepath.Join(base, "slipway", "helper")
	if v := moduleVersion(); v != "" {
		return filepath.Join(base, sanitize(v+"-"+runtime.Version()+"-"+goarch)), true
	}
	return filepath.Join(base, "devel-"+goarch), false
}

// moduleVersion is the Slipway module's version and checksum when this
// program depends on it at a fixed version, "" when Slipway is the main
// module (a development tree) or unknown.
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	mod := slipversion.Module()
	for _, d := range info.Deps {
		if d.Path != mod {
			continue
		}
		if d.Replace != nil {
			return "" // a replace points at a folder that may change
		}
		if d.Version == "" || d.Version == "(devel)" {
			return ""
		}
		return d.Version + "-" + shortSum(d.Sum)
	}
	return ""
}

func shortSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
