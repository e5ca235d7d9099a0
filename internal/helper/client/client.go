// Package client builds slipway-helper, puts it on servers and runs its
// steps (package helper): Call sends one step with its typed arguments and
// returns the step's lines.
package client

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
)

// Runner runs commands on a server (*remote.Client).
type Runner interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
	RunRoot(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error)
}

// Uploader copies a local file to the server (*remote.Client).
type Uploader interface {
	Upload(ctx context.Context, local, remotePath string, mode os.FileMode, progress func(sent, total int64)) error
}

// Starter starts a command left running (*remote.Client).
type Starter interface {
	Start(cmd string) (*remote.Process, error)
}

//go:embed install.sh
var installScript string

// installed remembers, per Runner, the helpers known to be on its server.
var installed sync.Map // key{Runner, sum} → true

type key struct {
	r   Runner
	sum string
}

// Command is the command line that runs step with helper bin on the server.
func Command(bin Binary, step string) string {
	return helper.HelperDir + "/slipway-helper-" + bin.SHA256 + " " + step
}

// Call runs step on the server with args (its helper argument type) and
// returns its output: the step's lines. The helper is built for the
// server's architecture (amd64 until the server says otherwise) and
// installed first if the server lacks it: in the steady state a step is
// one round trip. An error carries the step's last line when it printed
// one (a *remote.ExitError).
func Call(ctx context.Context, r Runner, step string, args any) ([]byte, error) {
	if !helper.Known(step) {
		return nil, fmt.Errorf("slipway-helper has no step %q", step)
	}
	req, err := request(step, args)
	if err != nil {
		return nil, err
	}
	bin, err := Build(ctx, archOf(r))
	if err != nil {
		return nil, err
	}
	run := r.Run
	if helper.NeedsRoot(step) {
		run = r.RunRoot
	}
	out, err := run(ctx, Command(bin, step), bytes.NewReader(req))
	if missing(err) {
		if bin, err = ensureMissing(ctx, r, bin); err != nil {
			return nil, err
		}
		out, err = run(ctx, Command(bin, step), bytes.NewReader(req))
	}
	return out, err
}

// arches remembers each Runner's server architecture once asked.
var arches sync.Map // Runner → GOARCH

func archOf(r Runner) string {
	if a, ok := arches.Load(r); ok {
		return a.(string)
	}
	return "amd64"
}

// unameArch maps `uname -m` to GOARCH.
var unameArch = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

// ensureMissing handles a helper the server lacks: it asks the server's
// architecture, builds for it if that is not bin's, and installs the
// helper unless the server has that one.
func ensureMissing(ctx context.Context, r Runner, bin Binary) (Binary, error) {
	out, err := r.Run(ctx, "uname -m", nil)
	if err != nil {
		return bin, fmt.Errorf("slipway-helper: the server's architecture (uname -m): %w", err)
	}
	m := strings.TrimSpace(string(out))
	arch, ok := unameArch[m]
	if !ok {
		return bin, fmt.Errorf("slipway-helper: the server is %s; Slipway runs on x86_64 (amd64) and aarch64 (arm64) servers", m)
	}
	arches.Store(r, arch)
	if arch != bin.GOARCH {
		if bin, err = Build(ctx, arch); err != nil {
			return bin, err
		}
	}
	installed.Delete(key{r, bin.SHA256})
	return bin, Ensure(ctx, r, bin)
}

// Ready returns the helper for r's server, installed there (one round trip
// the first time per Runner, none after).
func Ready(ctx context.Context, r Runner) (Binary, error) {
	bin, err := Build(ctx, archOf(r))
	if err != nil {
		return bin, err
	}
	if _, ok := installed.Load(key{r, bin.SHA256}); ok {
		return bin, nil
	}
	_, err = r.Run(ctx, Command(bin, "version"), nil)
	if missing(err) {
		return ensureMissing(ctx, r, bin)
	}
	if err != nil {
		return bin, fmt.Errorf("slipway-helper on the server: %w", err)
	}
	installed.Store(key{r, bin.SHA256}, true)
	return bin, nil
}

// Start starts step on the server and leaves it running: the request is
// written first on its stdin, the rest of stdin is the step's (Env.In).
// The helper is installed first if this Runner's server was not seen with
// it yet.
func Start(ctx context.Context, r Runner, step string, args any) (*remote.Process, error) {
	s, ok := r.(Starter)
	if !ok {
		return nil, fmt.Errorf("slipway-helper %s: the runner can't start a command and leave it running", step)
	}
	req, err := request(step, args)
	if err != nil {
		return nil, err
	}
	bin, err := Ready(ctx, r)
	if err != nil {
		return nil, err
	}
	cmd := Command(bin, step)
	if helper.NeedsRoot(step) {
		cmd = "sudo -n " + cmd
	}
	p, err := s.Start(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := p.Stdin.Write(req); err != nil {
		p.Close()
		return nil, fmt.Errorf("slipway-helper %s: send the request: %w", step, err)
	}
	return p, nil
}

func request(step string, args any) ([]byte, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("slipway-helper %s: %w", step, err)
	}
	req, err := json.Marshal(helper.Request{Protocol: helper.Protocol, Step: step, Args: raw})
	if err != nil {
		return nil, err
	}
	return append(req, '\n'), nil
}

// missing reports a helper the server does not have: the shell's 127, or
// sudo's "command not found" (sudo -n -- <path> exits 1).
func missing(err error) bool {
	var ee *remote.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	return ee.Status == 127 || ee.Status == 1 && strings.Contains(ee.Stderr, "slipway-helper-") && strings.Contains(ee.Stderr, "command not found")
}

// Ensure installs bin on the server unless it is there, asking once per
// Runner.
func Ensure(ctx context.Context, r Runner, bin Binary) error {
	if _, ok := installed.Load(key{r, bin.SHA256}); ok {
		return nil
	}
	_, err := r.Run(ctx, Command(bin, "version"), nil)
	if missing(err) {
		err = Install(ctx, r, bin)
	}
	if err != nil {
		return fmt.Errorf("slipway-helper on the server: %w", err)
	}
	installed.Store(key{r, bin.SHA256}, true)
	return nil
}

// Install uploads bin and puts it in helper.HelperDir, root-owned, after
// checking its SHA-256 on the server (install.sh).
func Install(ctx context.Context, r Runner, bin Binary) error {
	up, ok := r.(Uploader)
	if !ok {
		return errors.New("slipway-helper is not on the server and this runner can't upload it")
	}
	src := ".slipway-helper-" + bin.SHA256 + ".upload"
	if err := up.Upload(ctx, bin.Path, src, 0o700, nil); err != nil {
		return fmt.Errorf("upload slipway-helper: %w", err)
	}
	// The script and its named variables go on stdin: `sh -s` is the one
	// shell the client starts, and its text is install.sh.
	vars := "src=" + remote.Quote(src) + " sum=" + bin.SHA256 + " dir=" + helper.HelperDir + "\n"
	if out, err := r.RunRoot(ctx, "sh -s", strings.NewReader(vars+installScript)); err != nil {
		return fmt.Errorf("install slipway-helper: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Result is what a step's last "result ..." line says after "result "
// (e.g. "ok count=2", "failed no env file"); "" when it printed none.
func Result(out []byte) string {
	var last string
	for _, line := range strings.Split(string(out), "\n") {
		if r, ok := strings.CutPrefix(line, "result "); ok {
			last = r
		}
	}
	return last
}
