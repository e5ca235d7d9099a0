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
// is the main module) is keyed by its source instead (treeKey).
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
	if k := treeKey(); k != "" {
		return filepath.Join(base, "devel-"+k+"-"+goarch), true
	}
	return filepath.Join(base, "devel-"+goarch), false
}

// treeKey identifies a development tree's helper source: a hash of the Go
// version and of every non-test Go file, go.mod and go.sum of the Slipway
// module found at or above the working folder (the go.mod whose module is
// slipversion.Module()). Any change to the tree changes it, so a helper
// built from it is reused only for the same source. "" when no such module
// is found.
func treeKey() string {
	root := moduleRoot()
	if root == "" {
		return ""
	}
	h := sha256.New()
	io.WriteString(h, runtime.Version()+"\n")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) && name != "go.mod" && name != "go.sum" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// moduleRoot is the folder of the go.mod, at or above the working folder,
// whose module is Slipway's own; "" when there is none.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	want := "module " + slipversion.Module()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.TrimSpace(line) == want {
					return dir
				}
			}
			return "" // another module: Slipway is a dependency there
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
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
