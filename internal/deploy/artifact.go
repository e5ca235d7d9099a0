package deploy

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Artifact is the local release binary, checked against its checksum file.
type Artifact struct {
	Path   string
	SHA256 string
	Size   int64
	GOARCH string
}

// elfArch maps ELF machines to GOARCH names (and `uname -m` below).
var elfArch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_RISCV:   "riscv64",
}

// unameArch maps `uname -m` to GOARCH names.
var unameArch = map[string]string{
	"x86_64": "amd64", "amd64": "amd64",
	"aarch64": "arm64", "arm64": "arm64",
	"i386": "386", "i686": "386",
	"armv7l": "arm", "armv6l": "arm",
	"riscv64": "riscv64",
}

// LoadArtifact reads path and path.sha256 (sha256sum format) and refuses a
// binary that doesn't match its checksum or isn't a linux executable.
func LoadArtifact(path string) (Artifact, error) {
	a := Artifact{Path: path}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, fmt.Errorf("%s not found: build it first with `go run mage.go buildApp`", path)
	}
	if err != nil {
		return a, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return a, fmt.Errorf("%s is not a linux executable (%v): build it with `go run mage.go buildApp`", path, err)
	}
	a.GOARCH = elfArch[ef.Machine]
	if a.GOARCH == "" {
		a.GOARCH = ef.Machine.String()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return a, err
	}
	h := sha256.New()
	if a.Size, err = io.Copy(h, f); err != nil {
		return a, fmt.Errorf("hash %s: %w", path, err)
	}
	a.SHA256 = hex.EncodeToString(h.Sum(nil))
	want, err := readChecksum(path + ".sha256")
	if err != nil {
		return a, err
	}
	if want != a.SHA256 {
		return a, fmt.Errorf("%s does not match %s.sha256 (%s vs %s): rebuild with `go run mage.go buildApp`", path, path, short(a.SHA256), short(want))
	}
	return a, nil
}

func readChecksum(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s not found: build with `go run mage.go buildApp`, which writes it", path)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	sum, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	if len(sum) != 64 {
		return "", fmt.Errorf("%s: not in sha256sum format: rebuild with `go run mage.go buildApp`", path)
	}
	return strings.ToLower(sum), nil
}

// ReleaseID names a release: sortable by time, recognisable by content.
func ReleaseID(now time.Time, sha string) string {
	return now.UTC().Format("20060102T150405Z") + "-" + sha[:12]
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Version is what `app version` prints: version, commit, go.
type Version struct {
	Version, Commit, Go string
}

func parseVersion(out string) Version {
	var v Version
	for _, line := range strings.Split(out, "\n") {
		k, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "version":
			v.Version = val
		case "commit":
			v.Commit = val
		case "go":
			v.Go = val
		}
	}
	return v
}

func (v Version) String() string {
	if v.Version == "" && v.Commit == "" {
		return "unknown version"
	}
	// An untagged build's version is its commit: say it once.
	if v.Commit == "" || strings.HasPrefix(v.Version, short(v.Commit)) || strings.HasPrefix(v.Commit, v.Version) {
		return or(v.Version, short(v.Commit))
	}
	return fmt.Sprintf("%s (commit %s)", v.Version, short(v.Commit))
}
