package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Detached says where and how a step runs detached (Detach): the
// transient unit's name, description, bound and sandboxing. The client
// computes them from its configuration (the unit name so that the deploy
// lock's wait sees it, the hardening tested with systemd-analyze) and
// embeds this in the step's arguments.
type Detached struct {
	// Unit is the transient unit, e.g. app-handover-<tag>.service.
	Unit string `json:"unit"`
	// Description is the unit's description.
	Description string `json:"description"`
	// MaxSec bounds the unit's run (RuntimeMaxSec=).
	MaxSec int64 `json:"max_sec"`
	// Properties are the unit's sandboxing, systemd-run -p NAME=VALUE.
	Properties []string `json:"properties"`
}

var unitRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9@:._-]{0,200}\.service$`)

// Check refuses a Detached that would not make a transient unit.
func (d Detached) Check() error {
	if !unitRE.MatchString(d.Unit) {
		return fmt.Errorf("unit %q: want a service unit name of letters, digits, @, :, ., _ and -", d.Unit)
	}
	if d.MaxSec <= 0 {
		return fmt.Errorf("max_sec %d: want the unit's run time bound in seconds, above 0", d.MaxSec)
	}
	for _, p := range append([]string{d.Description}, d.Properties...) {
		if strings.ContainsAny(p, "\n\r\x00") {
			return fmt.Errorf("unit %s: a property or the description holds a line break", d.Unit)
		}
	}
	for _, p := range d.Properties {
		if k, _, ok := strings.Cut(p, "="); !ok || k == "" {
			return fmt.Errorf("unit %s: property %q: want NAME=VALUE", d.Unit, p)
		}
	}
	return nil
}

// DetachDir holds the detached steps' request and output files: root's,
// on a tmpfs (gone at reboot).
const DetachDir = "/run/slipway"

// detachRun is what the transient unit runs: step with args, its lines to
// stdout (the output file systemd opened), the request file removed first.
type detachRun struct {
	Step    string          `json:"step"`
	Args    json.RawMessage `json:"args"`
	Request string          `json:"request"`
}

// FollowPoll is how often the follower reads the output file and the unit
// polls the state of what it waits for.
const FollowPoll = 50 * time.Millisecond

func init() {
	Register("detached", true, func(ctx context.Context, e *Env, a detachRun) error {
		if a.Request != "" {
			_ = os.Remove(e.Path(a.Request))
		}
		st, ok := steps[a.Step]
		if !ok || a.Step == "detached" {
			return fmt.Errorf("detached: no step %q", a.Step)
		}
		if e.Root == "/" {
			// On a server the journal keeps the lines too (StandardError=
			// journal): journalctl -u 'app-handover-*' shows what ran.
			e.Out = io.MultiWriter(e.Out, os.Stderr)
		}
		return st.run(ctx, e, a.Args)
	})
}

// Detach runs step (a registered step) with args in the transient unit d,
// as root, and relays its lines to e.Out as they come: the unit runs the
// helper binary itself (e.Self) with the request read from a root-only
// file under DetachDir, its lines go to a file beside it that this
// follower reads every FollowPoll. Nothing in the unit depends on the
// caller: a follower killed at any point (the client's SSH session gone)
// leaves the step running to its end, bounded by d.MaxSec.
//
// Detach prints "detached <unit>" once the unit runs, then returns once
// the step's "result ..." line was relayed, or, when
// the unit ended without one, after printing "result failed ..." itself
// (ErrFailed). An error before the unit started means it never ran.
func Detach(ctx context.Context, e *Env, d Detached, step string, args any) error {
	if err := d.Check(); err != nil {
		return err
	}
	if _, ok := steps[step]; !ok {
		return fmt.Errorf("detach: no step %q", step)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("detach %s: %w", step, err)
	}
	dir := e.Path(DetachDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("detach %s: %w", step, err)
	}
	pruneDetached(dir, e.Time())
	base := strings.TrimSuffix(d.Unit, ".service")
	reqFile, outFile := DetachDir+"/"+base+".request", DetachDir+"/"+base+".out"
	inner, _ := json.Marshal(detachRun{Step: step, Args: raw, Request: reqFile})
	req, _ := json.Marshal(Request{Protocol: Protocol, Step: "detached", Args: inner})
	if err := writeExcl(e.Path(reqFile), append(req, '\n')); err != nil {
		return fmt.Errorf("detach %s: %w", step, err)
	}
	if err := writeExcl(e.Path(outFile), nil); err != nil {
		os.Remove(e.Path(reqFile))
		return fmt.Errorf("detach %s: %w", step, err)
	}
	props := append([]string{
		"RuntimeMaxSec=" + strconv.FormatInt(d.MaxSec, 10),
		// systemd opens both before the sandbox applies: the step reads its
		// request on stdin and writes its lines to stdout as it would over SSH.
		"StandardInput=file:" + reqFile,
		"StandardOutput=file:" + outFile,
		"StandardError=journal",
	}, d.Properties...)
	if err := e.Sys.Transient(ctx, Transient{Unit: d.Unit, Description: d.Description, Properties: props, Cmd: []string{e.Self, "detached"}}); err != nil {
		os.Remove(e.Path(reqFile))
		os.Remove(e.Path(outFile))
		if strings.Contains(err.Error(), "already") {
			return fmt.Errorf("systemd refused the unit %s: %w", d.Unit, err)
		}
		return err
	}
	// Once this line is out, the step runs whatever happens to the caller.
	e.Line("detached", d.Unit)
	return follow(ctx, e, d.Unit, e.Path(outFile))
}

// follow relays outFile's lines until the result line, or until the unit
// is gone without one.
func follow(ctx context.Context, e *Env, unit, outFile string) error {
	f, err := os.Open(outFile)
	if err != nil {
		return err
	}
	defer f.Close()
	var pending []byte
	buf := make([]byte, 32<<10)
	// relay copies what the file holds now; true once the result went out.
	relay := func() bool {
		for {
			n, err := f.Read(buf)
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				line := pending[:i+1]
				e.Out.Write(line)
				pending = pending[i+1:]
				if bytes.HasPrefix(line, []byte("result ")) {
					return true
				}
			}
			if n == 0 || err != nil {
				return false
			}
		}
	}
	t := time.NewTicker(FollowPoll)
	defer t.Stop()
	for i := 0; ; i++ {
		if relay() {
			os.Remove(outFile)
			return nil
		}
		// The state every 4th read: a unit gone is final, its file complete.
		if i%4 == 3 {
			p, err := e.Sys.Show(ctx, unit, "ActiveState", "Result")
			if err == nil && (p["ActiveState"] == "inactive" || p["ActiveState"] == "failed") {
				if relay() {
					os.Remove(outFile)
					return nil
				}
				if len(pending) > 0 {
					e.Line("log", string(pending))
				}
				os.Remove(outFile)
				e.Result("failed", fmt.Sprintf("%s ended without a result (%s): journalctl -u %s says why", unit, p["Result"], unit))
				return ErrFailed
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func writeExcl(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pruneDetached removes what followers killed before the end left behind,
// a day later.
func pruneDetached(dir string, now time.Time) {
	list, _ := filepath.Glob(filepath.Join(dir, "*.out"))
	more, _ := filepath.Glob(filepath.Join(dir, "*.request"))
	for _, f := range append(list, more...) {
		if st, err := os.Stat(f); err == nil && now.Sub(st.ModTime()) > 24*time.Hour {
			os.Remove(f)
		}
	}
}
