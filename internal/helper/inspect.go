package helper

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The deploy's steps on DEPLOY_PATH, run as the SSH user (the owner of
// every deploy file, as in the shell-based Slipway): inspect reads the
// layout, release-dir, release-install, release-sha256, prune,
// deploy-log and deploy-log-tail change or read one thing each.

func init() {
	Register("inspect", false, inspectStep)
	Register("release-dir", false, releaseDirStep)
	Register("release-install", false, releaseInstallStep)
	Register("release-sha256", false, releaseSHA256Step)
	Register("prune", false, pruneStep)
	Register("deploy-log", false, deployLogStep)
	Register("deploy-log-tail", false, deployLogTailStep)
	Register("provisioned", true, provisionedStep)
}

// releaseID is a release folder's name: its UTC time and the start of its
// binary's SHA-256.
var releaseID = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

func checkReleaseID(id string) error {
	if !releaseID.MatchString(id) {
		return fmt.Errorf("release %q: want an id like 20260101T120000Z-0123456789ab (see `go run mage.go status`)", id)
	}
	return nil
}

// DeployPathArgs name DEPLOY_PATH only.
type DeployPathArgs struct {
	DeployPath string `json:"deploy_path"`
}

// DeployTools are the programs a deploy needs on the server besides the
// helper: the upload's scp sink.
var DeployTools = []string{"scp"}

// inspectStep prints the layout as `key value` lines: uname, missing
// tools, current and previous (link targets), each release with the
// SHA-256 its app.sha256 records and its app.version lines, and the
// uploads that died (releases/.upload-*, .new-*).
func inspectStep(_ context.Context, e *Env, a DeployPathArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		fmt.Fprintf(e.Out, "uname %s\n", unix.ByteSliceToString(u.Machine[:]))
	}
	for _, t := range DeployTools {
		if _, err := exec.LookPath(t); err != nil {
			fmt.Fprintf(e.Out, "missing %s\n", t)
		}
	}
	dp := e.Path(a.DeployPath)
	if _, err := os.Stat(dp); err != nil {
		return nil
	}
	for _, l := range []string{"current", "previous"} {
		target, _ := os.Readlink(filepath.Join(dp, l))
		fmt.Fprintf(e.Out, "%s %s\n", l, oneLine(target))
	}
	entries, _ := os.ReadDir(filepath.Join(dp, "releases"))
	var uploads []string
	for _, d := range entries {
		name := d.Name()
		if strings.HasPrefix(name, ".upload-") || strings.HasPrefix(name, ".new-") {
			uploads = append(uploads, name)
			continue
		}
		if strings.HasPrefix(name, ".") {
			continue
		}
		dir := filepath.Join(dp, "releases", name)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		sum, err := os.ReadFile(filepath.Join(dir, "app.sha256"))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(sum), "\n")
		first, _, _ = strings.Cut(first, " ")
		fmt.Fprintf(e.Out, "release %s %s\n", oneLine(name), first)
		if v, err := os.ReadFile(filepath.Join(dir, "app.version")); err == nil {
			for _, line := range strings.Split(strings.TrimSuffix(string(v), "\n"), "\n") {
				fmt.Fprintf(e.Out, "version %s %s\n", oneLine(name), line)
			}
		}
	}
	sort.Strings(uploads)
	for _, u := range uploads {
		fmt.Fprintf(e.Out, "upload %s\n", oneLine(u))
	}
	return nil
}

// releaseDirStep makes DEPLOY_PATH/releases, where the upload goes.
func releaseDirStep(_ context.Context, e *Env, a DeployPathArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	return os.MkdirAll(e.Path(a.DeployPath+"/releases"), 0o777)
}

// ReleaseInstallArgs name an uploaded binary (releases/.upload-<id>) and
// its expected SHA-256.
type ReleaseInstallArgs struct {
	DeployPath string `json:"deploy_path"`
	ID         string `json:"id"`
	SHA256     string `json:"sha256"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// releaseInstallStep verifies an uploaded binary and turns it into a
// release folder in one rename: a release folder is complete or absent.
// It prints the binary's `version` output, then the result. A binary whose
// SHA-256 differs, or that does not run here, is removed.
func releaseInstallStep(ctx context.Context, e *Env, a ReleaseInstallArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	if err := checkReleaseID(a.ID); err != nil {
		return err
	}
	if !sha256Hex.MatchString(a.SHA256) {
		return fmt.Errorf("sha256 %q: want 64 lower-case hex digits", a.SHA256)
	}
	rel := e.Path(a.DeployPath + "/releases")
	f, d := filepath.Join(rel, ".upload-"+a.ID), filepath.Join(rel, ".new-"+a.ID)
	sum, err := fileSHA256(f)
	if err != nil {
		return err
	}
	if sum != a.SHA256 {
		_ = os.Remove(f)
		return fmt.Errorf("sha256 on the server is %s, want %s: upload corrupted, removed", sum, a.SHA256)
	}
	if err := os.Chmod(f, 0o755); err != nil {
		return err
	}
	v, err := exec.CommandContext(ctx, f, "version").CombinedOutput()
	if err != nil {
		_ = os.Remove(f)
		return fmt.Errorf("the binary does not run on this server: %s %v", bytes.TrimSpace(v), err)
	}
	v = bytes.TrimRight(v, "\n")
	if err := os.RemoveAll(d); err != nil {
		return err
	}
	if err := os.Mkdir(d, 0o777); err != nil {
		return err
	}
	if err := os.Rename(f, filepath.Join(d, "app")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "app.sha256"), []byte(sum+"  app\n"), 0o666); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "app.version"), append(v, '\n'), 0o666); err != nil {
		return err
	}
	// Its jobs and workers (app.jobs), asked now: a bad schedule stops
	// the deploy here, before anything switches.
	if err := describeRelease(ctx, filepath.Join(d, "app"), d); err != nil {
		_ = os.RemoveAll(d)
		return err
	}
	if err := os.Rename(d, filepath.Join(rel, a.ID)); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "%s\n", v)
	e.Result("ok", "release="+a.ID)
	return nil
}

// ReleaseArgs name one release folder.
type ReleaseArgs struct {
	DeployPath string `json:"deploy_path"`
	ID         string `json:"id"`
}

// releaseSHA256Step prints "sha256 <hex>" of releases/<id>/app, hashed
// now: the app.sha256 beside it was written once, at install.
func releaseSHA256Step(_ context.Context, e *Env, a ReleaseArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	if err := checkReleaseID(a.ID); err != nil {
		return err
	}
	sum, err := fileSHA256(e.Path(a.DeployPath + "/releases/" + a.ID + "/app"))
	if err != nil {
		return err
	}
	e.Line("sha256", sum)
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// PruneArgs name what prune removes: releases/<id>, releases/.upload-*,
// releases/.new-*, relative to DeployPath.
type PruneArgs struct {
	DeployPath string   `json:"deploy_path"`
	Remove     []string `json:"remove"`
}

// pruneStep removes old releases and dead uploads. The client chose them;
// current and previous are refused all the same.
func pruneStep(_ context.Context, e *Env, a PruneArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	dp := e.Path(a.DeployPath)
	live := map[string]bool{}
	for _, l := range []string{"current", "previous"} {
		if t, err := os.Readlink(filepath.Join(dp, l)); err == nil {
			live[filepath.Base(t)] = true
		}
	}
	for _, r := range a.Remove {
		name, ok := strings.CutPrefix(r, "releases/")
		if !ok || strings.Contains(name, "/") || !releaseID.MatchString(name) &&
			!strings.HasPrefix(name, ".upload-") && !strings.HasPrefix(name, ".new-") || name == ".upload-" || name == ".new-" {
			return fmt.Errorf("prune: %q is not a release folder or an upload (releases/<id>)", r)
		}
		if live[name] {
			return fmt.Errorf("prune: %s is current or previous: it stays", r)
		}
	}
	for _, r := range a.Remove {
		if err := os.RemoveAll(filepath.Join(dp, r)); err != nil {
			return err
		}
	}
	return nil
}

// DeployLogArgs are one deploy.log line to append.
type DeployLogArgs struct {
	DeployPath string `json:"deploy_path"`
	Line       string `json:"line"`
}

// deployLogStep appends one line to DEPLOY_PATH/deploy.log.
func deployLogStep(_ context.Context, e *Env, a DeployLogArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	f, err := os.OpenFile(e.Path(a.DeployPath+"/deploy.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(oneLine(a.Line) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DeployLogTailArgs ask for the last Lines lines of deploy.log.
type DeployLogTailArgs struct {
	DeployPath string `json:"deploy_path"`
	Lines      int    `json:"lines"`
}

// deployLogTailStep prints the last lines of deploy.log as they are,
// nothing without one.
func deployLogTailStep(_ context.Context, e *Env, a DeployLogTailArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	f, err := os.Open(e.Path(a.DeployPath + "/deploy.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var last []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		last = append(last, sc.Text())
		if len(last) > a.Lines {
			last = last[1:]
		}
	}
	for _, l := range last {
		fmt.Fprintln(e.Out, l)
	}
	return nil
}

// ProvisionedArgs name the files a provisioned server has: the env file
// and one of the unit files (the template, or the unit of the layout
// before instances).
type ProvisionedArgs struct {
	EnvFile string   `json:"env_file"`
	Units   []string `json:"units"`
}

// provisionedStep says, as root (the env file is root's), whether the app
// was set up here: "result ok yes", or "result ok no" when the env file or
// every unit is missing.
func provisionedStep(_ context.Context, e *Env, a ProvisionedArgs) error {
	for _, p := range append([]string{a.EnvFile}, a.Units...) {
		if err := checkPath("provisioned: file", p); err != nil {
			return err
		}
	}
	exists := func(p string) bool { _, err := os.Stat(e.Path(p)); return err == nil }
	unit := false
	for _, u := range a.Units {
		unit = unit || exists(u)
	}
	if exists(a.EnvFile) && unit {
		e.Result("ok", "yes")
	} else {
		e.Result("ok", "no")
	}
	return nil
}
