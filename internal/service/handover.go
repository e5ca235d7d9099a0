package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

var releaseRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)

// HandoverRequest says which release to make live.
type HandoverRequest struct {
	// Release is the release id to switch to (a folder in ReleasesDir).
	Release string
	// Commit is what the new instance's STATUS= must report ("" skips it).
	Commit string
	// ReadyTimeout bounds the new instance's start; a hang is stopped.
	ReadyTimeout time.Duration
	// LogLine is the start of the deploy.log line the server appends with
	// result= and duration= ("" appends none). Start is when the duration
	// began: when the user's command started.
	LogLine string
	Start   time.Time
	// Instance names the new instance when it is not Release itself: a
	// later generation of the live release (Config.InstanceName), so the
	// same release runs twice during the switch.
	Instance string
	// EnvFile, when set, is a new env file beside the service's (same
	// folder, root:root 0600): the handover renames it over the service's
	// just before the start and puts the previous one back if the new
	// instance never gets ready.
	EnvFile string
}

// HandoverResult is what the server reported.
type HandoverResult struct {
	// Outcome is "ok", "rolled-back" (the new release never became ready,
	// the old one kept serving) or "failed" (nothing was serving before).
	Outcome string
	// Detail is the result line's key=value tail, e.g. kept=<release>.
	Detail string
	// Reason says why the new instance was stopped, when it was.
	Reason string
	// Steps are the steps taken, in order, one line each.
	Steps []string
	// Logs are the new instance's last journal lines when it failed: its
	// own, of this start only.
	Logs []string
}

// Handover makes req.Release the live release on the server, beside the
// live one and then instead of it (helper.Handover): the helper's
// handover step runs the switch in a transient unit of its own and relays
// its lines until the result. A non-nil error means the result is unknown
// (connection lost); the server still finishes. The deploy lock must be
// held; the lock's server side waits for a running handover before it
// lets the next deploy in.
func Handover(ctx context.Context, r Runner, c Config, req HandoverRequest) (HandoverResult, error) {
	if req.ReadyTimeout <= 0 {
		return HandoverResult{}, fmt.Errorf("handover: ready timeout %s", req.ReadyTimeout)
	}
	// It names a unit, a folder and a file under /run.
	if !releaseRE.MatchString(req.Release) {
		return HandoverResult{}, fmt.Errorf("handover: release %q: want letters, digits, ., _ and -", req.Release)
	}
	if req.Instance != "" && (!releaseRE.MatchString(req.Instance) || ReleaseOfInstance(req.Instance) != req.Release) {
		return HandoverResult{}, fmt.Errorf("handover: instance %q is not one of release %s", req.Instance, req.Release)
	}
	start := req.Start
	if start.IsZero() {
		start = time.Now()
	}
	tmo := int64((req.ReadyTimeout + time.Second - 1) / time.Second)
	// Room for the start, the old instance's drain and the stop of leftovers.
	maxSec := tmo + 3*int64(c.StopTimeout/time.Second) + 60
	tag := req.Release + "-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	a := helper.HandoverArgs{
		Detached: helper.Detached{
			Unit: c.HandoverUnitFor(tag), Description: c.AppName + ": handover to release " + req.Release,
			MaxSec: maxSec, Properties: HandoverHardening(c),
		},
		App: c.AppName, DeployPath: c.DeployPath, Release: req.Release, Instance: req.Instance,
		Commit: req.Commit, ReadyTimeoutMS: tmo * 1000,
		LogLine: req.LogLine, StartUnixNano: start.UnixNano(),
		Procs: ProcUnits(c),
	}
	if req.EnvFile != "" {
		a.NewEnvFile, a.EnvFile = req.EnvFile, c.EnvFile()
	}
	out, err := client.Call(ctx, r, "handover", a)
	// The step exits 1 on a switch that did not happen: its lines say so.
	// Without its "detached" line the switch never started.
	if err != nil && !bytes.Contains(out, []byte("\ndetached ")) && !bytes.HasPrefix(out, []byte("detached ")) {
		if bytes.Contains(out, []byte("already")) {
			return HandoverResult{}, fmt.Errorf("systemd refused the handover's unit %s: %s", c.HandoverUnitFor(tag), bytes.TrimSpace(out))
		}
		return HandoverResult{}, fmt.Errorf("handover to %s: %w: %s", req.Release, err, bytes.TrimSpace(out))
	}
	return parseHandover(out)
}

func parseHandover(out []byte) (HandoverResult, error) {
	var res HandoverResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "step":
			res.Steps = append(res.Steps, rest)
		case "log":
			res.Logs = append(res.Logs, rest)
		case "why":
			res.Reason = rest
		case "result":
			res.Outcome, res.Detail, _ = strings.Cut(rest, " ")
		}
	}
	if res.Outcome == "" {
		return res, fmt.Errorf("handover: no result in the server's output:\n%s", out)
	}
	return res, nil
}

// Instance is one release instance as systemd sees it.
type Instance struct {
	Unit, Release string
	// Generation is 0 for the release's own instance, n for <release>.g<n>.
	Generation int
	// State is ActiveState/SubState, e.g. active/running.
	State string
	// Status is the app's STATUS= line (version and commit once ready).
	Status  string
	MainPID int
}

// Live reports whether the instance is up and said READY=1.
func (i Instance) Live() bool { return i.State == "active/running" }

// Instances lists the release instances systemd knows, running or not,
// and the old layout's single service if it is still installed.
func Instances(ctx context.Context, r Runner, c Config) ([]Instance, error) {
	out, err := client.Call(ctx, r, "instances", helper.InstancesArgs{App: c.AppName})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w: %s", err, bytes.TrimSpace(out))
	}
	var list []Instance
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "instance ")
		if !ok {
			continue
		}
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			continue
		}
		in := Instance{Unit: f[0], State: f[1], Status: f[3]}
		in.MainPID, _ = strconv.Atoi(f[2])
		if name, ok := strings.CutPrefix(strings.TrimSuffix(f[0], ".service"), c.AppName+"@"); ok {
			in.Release, in.Generation = splitInstance(name)
		}
		list = append(list, in)
	}
	return list, nil
}

// InstanceLive reports whether the release's instance is live and reports
// commit in its STATUS= line ("" accepts any).
func InstanceLive(ctx context.Context, r Runner, c Config, release, commit string) (bool, error) {
	list, err := Instances(ctx, r, c)
	if err != nil {
		return false, err
	}
	for _, in := range list {
		if in.Release == release && in.Live() {
			return commit == "" || strings.Contains(" "+in.Status+" ", " commit="+commit+" "), nil
		}
	}
	return false, nil
}

// ReleaseOfInstance is the release an instance name runs: the name without
// its generation suffix (.g<n>), as the template's ExecStart strips it.
func ReleaseOfInstance(name string) string { return helper.ReleaseOfInstance(name) }

func splitInstance(name string) (string, int) { return helper.SplitInstance(name) }
