// Package build produces Slipway's release binary: a static, stripped,
// reproducible linux executable of ./cmd/app stamped with its git version,
// verified after the build and written next to its sha256 checksum.
//
// The pre-build gates (checkMigrations and the lint it runs) are not called
// from here: the mage target composes them with mg.Deps, so each gate stays
// its own package and its own target.
package build

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Package is the main package buildApp builds, relative to the repository root.
const Package = "./cmd/app"

// VersionPackage receives the stamp through -ldflags -X, relative to the
// repository root. Its import path is asked of the go command in Dir, not
// spelled here: a copy of Slipway under another module path (gonew) stamps
// its own.
const VersionPackage = "./internal/version"

// Options configures Run. The zero value builds bin/app for linux/amd64 from
// the current directory.
type Options struct {
	// Dir is the repository root (the directory holding go.mod); "" is ".".
	Dir string
	// GOARCH is the target architecture; "" is amd64. See Supported.
	GOARCH string
	// Output is the binary's path, relative to Dir unless absolute; "" is
	// bin/app. The checksum goes to Output + ".sha256".
	Output string
	// Package is the main package, relative to Dir; "" is Package. Any main
	// package importing VersionPackage gets the stamp (the tests' releases
	// that never become ready do).
	Package string
	// Version and Commit, set together, are stamped instead of the git
	// checkout's: tests stamp releases they tell apart, and dev builds from
	// a tree that needn't be a checkout. Empty, Run reads them with Stamp.
	Version, Commit string
	// DatabaseURL, unless "", is stamped as the name of the variable the
	// app reads its database URL from (version.DatabaseURL).
	DatabaseURL string
	// Env is added to the go command's environment (e.g. GOCACHE). It can't
	// override the variables the build pins: see Env.
	Env []string
	// Stdout receives the one summary line; nil discards it.
	Stdout io.Writer
	// Log receives the steps at debug level (the exact go command); nil
	// discards them.
	Log *slog.Logger
}

// Result describes a built and verified binary.
type Result struct {
	Path      string // as given in Options.Output, or bin/app
	GOOS      string
	GOARCH    string
	Size      int64
	SHA256    string // hex
	Version   string
	Commit    string
	GoVersion string // read back from the binary's build info
}

// String is the summary line printed after a build.
func (r Result) String() string {
	return fmt.Sprintf("%s %s/%s %.1f MiB (%d bytes) sha256 %s version %s commit %s %s",
		r.Path, r.GOOS, r.GOARCH, float64(r.Size)/(1<<20), r.Size, r.SHA256, r.Version, r.Commit, r.GoVersion)
}

func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.GOARCH == "" {
		o.GOARCH = "amd64"
	}
	if o.Output == "" {
		o.Output = filepath.Join("bin", "app")
	}
	if o.Package == "" {
		o.Package = Package
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// outputPath is where the go command writes the binary.
func (o Options) outputPath() string {
	if filepath.IsAbs(o.Output) {
		return o.Output
	}
	return filepath.Join(o.Dir, o.Output)
}

// Run stamps, builds, verifies and checksums the binary, then prints the
// summary line. On any failure it returns the error and leaves no checksum
// file behind, so a .sha256 only ever vouches for a verified binary.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts = opts.withDefaults()
	out := opts.outputPath()
	cmd, version, commit, err := command(ctx, opts, out)
	if err != nil {
		return Result{}, err
	}
	if err := os.Remove(out + ".sha256"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("remove old checksum: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return Result{}, fmt.Errorf("create output dir: %w", err)
	}
	if err := goBuild(opts, cmd); err != nil {
		return Result{}, err
	}
	if err := Verify(out, opts.GOARCH); err != nil {
		// A binary that failed verification must not be picked up by a later
		// step that doesn't rebuild.
		_ = os.Remove(out)
		return Result{}, err
	}
	res := Result{Path: opts.Output, GOOS: "linux", GOARCH: opts.GOARCH, Version: version, Commit: commit}
	if res.SHA256, res.Size, err = hashFile(out); err != nil {
		return Result{}, err
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		return Result{}, fmt.Errorf("read build info: %w", err)
	}
	res.GoVersion = info.GoVersion
	if err := writeChecksum(out, res.SHA256); err != nil {
		return Result{}, err
	}
	fmt.Fprintln(opts.Stdout, res)
	return res, nil
}

// Command is the go command Run runs for opts, stamp included, not started:
// bench:build's baseline. Run adds the verification and the checksum.
func Command(ctx context.Context, opts Options) (*exec.Cmd, error) {
	opts = opts.withDefaults()
	cmd, _, _, err := command(ctx, opts, opts.outputPath())
	return cmd, err
}

// command stamps and returns the go command that builds to out.
func command(ctx context.Context, opts Options, out string) (cmd *exec.Cmd, version, commit string, err error) {
	if err := checkArch(opts.GOARCH); err != nil {
		return nil, "", "", err
	}
	if opts.DatabaseURL != "" && !envName.MatchString(opts.DatabaseURL) {
		return nil, "", "", fmt.Errorf("build: DatabaseURL %q is no environment variable name: letters, digits and _, not a digit first", opts.DatabaseURL)
	}
	if (opts.Version == "") != (opts.Commit == "") {
		return nil, "", "", fmt.Errorf("build: set both Version and Commit (got %q, %q), or neither to read them from git", opts.Version, opts.Commit)
	}
	// Concurrently: both run before every build, even the ones the go
	// command finds up to date in ~0.1 s.
	var (
		wg     sync.WaitGroup
		pkg    string
		pkgErr error
	)
	wg.Go(func() { pkg, pkgErr = versionPackage(ctx, opts.Dir, opts.Package) })
	version, commit = opts.Version, opts.Commit
	if version == "" {
		version, commit, err = Stamp(ctx, opts.Dir)
	}
	wg.Wait()
	if err = cmp.Or(err, pkgErr); err != nil {
		return nil, "", "", err
	}
	cmd = exec.CommandContext(ctx, "go", args(pkg, version, commit, opts.DatabaseURL, out, opts.Package)...)
	cmd.Dir = opts.Dir
	cmd.Env = Env(opts.GOARCH, opts.Env)
	return cmd, version, commit, nil
}

// envName is an environment variable name as the stamp may carry it.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// args are the go command's arguments. Each flag is passed explicitly
// rather than trusted to the machine's go env: -trimpath drops the checkout
// path, -buildvcs=false leaves the stamping to us (its vcs.time would be a
// timestamp), -mod=readonly turns an untidy go.mod into an error, -s -w
// strip the symbol table and DWARF.
func args(versionPkg, version, commit, dbVar, out, pkg string) []string {
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", versionPkg, version, versionPkg, commit)
	if dbVar != "" {
		ldflags += fmt.Sprintf(" -X %s.DatabaseURL=%s", versionPkg, dbVar)
	}
	return []string{"build", "-trimpath", "-mod=readonly", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg}
}

// versionPackage is the import path of the internal/version package that
// the main package pkg links: in Slipway, or a copy of it under another
// module path, the module's own VersionPackage; in an app that depends on
// Slipway (github.com/slipway-dev/slipway/app in its main), Slipway's,
// which has no ./internal/version of the app's own to find.
func versionPackage(ctx context.Context, dir, pkg string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build: go list -deps %s: %w: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	deps := strings.Fields(stdout.String())
	var found []string
	for _, p := range deps {
		if strings.HasSuffix(p, "/internal/version") {
			found = append(found, p)
		}
	}
	// The one beside the runtime package: an app may have an
	// internal/version of its own too.
	for _, p := range found {
		if slices.Contains(deps, strings.TrimSuffix(p, "internal/version")+"app") {
			return p, nil
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return importPath(ctx, dir, VersionPackage)
}

// importPath asks the go command in dir for the import path of the package
// at rel (./internal/version): whatever module path go.mod declares.
func importPath(ctx context.Context, dir, rel string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}}", rel)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build: go list %s: %w: %s", rel, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Env returns the go command's environment for goarch: the process
// environment plus extra, then the pinned variables. GOFLAGS is replaced
// (this machine sets -buildvcs=false there; another could set -mod=mod), and
// GOAMD64/GOARM64 are pinned to their defaults so a developer's shell can't
// make their build differ from CI's.
func Env(goarch string, extra []string) []string {
	env := append(os.Environ(), extra...)
	return append(env,
		"CGO_ENABLED=0",
		"GOOS=linux",
		"GOARCH="+goarch,
		"GOFLAGS=-trimpath -mod=readonly -buildvcs=false",
		"GOAMD64=v1",
		"GOARM64=v8.0",
	)
}

// goBuild runs the go command and passes its own message through on failure
// (e.g. "go: updates to go.mod needed").
func goBuild(opts Options, cmd *exec.Cmd) error {
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	opts.Log.Debug("go build", "dir", opts.Dir, "goarch", opts.GOARCH, "cmd", shellJoin(cmd.Args))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build (GOARCH=%s): %w\n%s", opts.GOARCH, err, strings.TrimSpace(output.String()))
	}
	return nil
}

// hashFile returns the hex sha256 and size of the file at path.
func hashFile(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if size, err = io.Copy(h, f); err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// WriteChecksum hashes the file at path and writes path.sha256 the way Run
// does: for a binary changed after its build (a test's, a benchmark's
// variant) that deploy must accept. It returns the hex sha256.
func WriteChecksum(path string) (string, error) {
	sum, _, err := hashFile(path)
	if err != nil {
		return "", err
	}
	return sum, writeChecksum(path, sum)
}

// writeChecksum writes path.sha256 in sha256sum format with the bare file
// name, so `cd bin && sha256sum -c app.sha256` works wherever bin/ is copied.
func writeChecksum(path, sum string) error {
	line := fmt.Sprintf("%s  %s\n", sum, filepath.Base(path))
	tmp := path + ".sha256.tmp"
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return fmt.Errorf("write checksum: %w", err)
	}
	if err := os.Rename(tmp, path+".sha256"); err != nil {
		return fmt.Errorf("write checksum: %w", err)
	}
	return nil
}

// shellJoin quotes the arguments that need it, so a logged command can be
// pasted into a shell.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}
