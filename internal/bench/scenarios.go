package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// The rows of bench:deploy, in the order they run.
const (
	// ScenarioSeed is what the project did before Slipway: `scp bin/app
	// <alias>:/home/admin` with OpenSSH and a plain systemd unit (no socket
	// activation, no hardening, the app binds its port) restarted around
	// it. Copying over a running binary fails ("Text file busy"), so it is
	// stop, copy, start.
	ScenarioSeed = "seed: ssh stop, scp, ssh start"
	// ScenarioStopCopyStart is Slipway's own hardened unit without its
	// socket (the app binds its port), deployed by stop, copy over the
	// binary, start: what the socket and the drain are measured against.
	ScenarioStopCopyStart = "stop-copy-start, no socket (baseline)"
	// ScenarioRestart is today's restart in place: the layout before
	// instances (one app.service running current/app behind its socket),
	// a new release folder, current switched and `systemctl restart`, the
	// app's drain; not ready within the timeout, switched back and
	// restarted, as deploy did.
	ScenarioRestart = "restart in place (before handover)"
	// ScenarioSlipway is `go run mage.go deploy`: the new release's
	// instance starts beside the live one on the socket, which stops once
	// the new one is ready. Its rows run last: they leave Slipway's
	// service serving.
	ScenarioSlipway = "Slipway deploy"
	// The rows of one deploy each: a release whose migration takes
	// DeployOptions.Migration, and one that never becomes ready.
	ScenarioRestartMigration  = "restart in place, long migration"
	ScenarioRestartNeverReady = "restart in place, never-ready release"
	ScenarioSlipwayMigration  = "Slipway deploy, long migration"
	ScenarioSlipwayNeverReady = "Slipway deploy, never-ready release"
)

// DeployScenarios are bench:deploy's rows. Add a Scenario here and its row
// appears in the table, measured under the same load as the others.
func DeployScenarios() []Scenario {
	return []Scenario{
		{Name: ScenarioSeed, Timed: true, Start: startSeed},
		{Name: ScenarioStopCopyStart, Start: startStopCopyStart},
		{Name: ScenarioRestart, Start: startRestart},
		{Name: ScenarioRestartMigration, Start: onFreshDatabase(startRestart), Once: longMigration},
		{Name: ScenarioRestartNeverReady, Start: startRestart, Once: neverReady("serve503")},
		{Name: ScenarioSlipway, Timed: true, Start: startSlipway},
		{Name: ScenarioSlipwayMigration, Start: onFreshDatabase(startSlipway), Once: longMigration},
		{Name: ScenarioSlipwayNeverReady, Start: startSlipway, Once: neverReady("unready")},
		{Name: ScenarioSlipwayHTTPS, Start: startSlipwayHTTPS},
	}
}

// seedUnit runs the seed's binary.
const seedUnit = "app-seed.service"

// startSeed installs the seed's unit: the binary scp'd into the home
// folder, run by the SSH user, binding its own port.
func startSeed(ctx context.Context, r *Rig, _ DeployOptions) (Flow, error) {
	port, err := r.FreePort()
	if err != nil {
		return Flow{}, err
	}
	c := r.Service
	addr := "127.0.0.1:" + strconv.Itoa(port)
	binary := path.Join(c.DeployPath, "app")
	unit := fmt.Sprintf(`# The seed's plain set-up, installed by internal/bench as its point of comparison.
[Unit]
Description=%[1]s, the seed's plain unit
After=network-online.target postgresql.service

[Service]
ExecStart=%[2]s serve
User=%[3]s
EnvironmentFile=%[4]s
Environment=ADDR=%[5]s
Restart=on-failure
`, c.AppName, binary, r.Client.Config().User, c.EnvFile(), addr)
	unitPath := path.Join(service.UnitDir, seedUnit)
	if err := r.WriteRoot(ctx, unitPath, unit, 0o644); err != nil {
		return Flow{}, err
	}
	if err := r.RunRoot(ctx, "systemctl daemon-reload"); err != nil {
		return Flow{}, err
	}
	url := "http://" + addr
	ssh := func(verb string) []string {
		return []string{"ssh", "-F", r.MeteredConfig, "-o", "BatchMode=yes", r.Inst.Alias, "sudo -n systemctl " + verb + " " + seedUnit}
	}
	return Flow{
		URL: url,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			for _, args := range [][]string{
				ssh("stop"),
				{"scp", "-q", "-F", r.MeteredConfig, "-o", "BatchMode=yes", bin, r.Inst.Alias + ":" + path.Dir(binary)},
				ssh("start"),
			} {
				if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
					return 0, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
				}
			}
			return sentWhenReady(ctx, bin, url)
		},
		Stop: func(ctx context.Context) error {
			// A unit already stopped is fine: remove it whatever it says.
			_ = r.RunRoot(ctx, "systemctl stop %s", seedUnit)
			if err := r.RunRoot(ctx, "rm -f %s %s", remote.Quote(unitPath), remote.Quote(binary)); err != nil {
				return err
			}
			return r.RunRoot(ctx, "systemctl daemon-reload")
		},
	}, nil
}

// startStopCopyStart replaces Slipway's units by the service alone, bound
// to the port itself; Stop provisions Slipway's units back.
func startStopCopyStart(ctx context.Context, r *Rig, _ DeployOptions) (Flow, error) {
	c := r.Service
	units, err := service.LegacyUnits(c)
	if err != nil {
		return Flow{}, err
	}
	unit, err := withoutSocket(string(units[c.ServiceUnit()]), c)
	if err != nil {
		return Flow{}, err
	}
	// Units already gone are fine: what counts is that none runs after.
	_ = r.RunRoot(ctx, "systemctl disable --now %s %s", remote.Quote(c.SocketUnit()), remote.Quote(c.CurrentUnit()))
	if err := r.RunRoot(ctx, "systemctl stop %s", remote.Quote(c.InstancePattern())); err != nil {
		return Flow{}, err
	}
	if err := r.WriteRoot(ctx, path.Join(service.UnitDir, c.ServiceUnit()), unit, 0o644); err != nil {
		return Flow{}, err
	}
	if err := r.RunRoot(ctx, "systemctl daemon-reload"); err != nil {
		return Flow{}, err
	}
	started := false
	return Flow{
		URL: "http://" + c.ListenAddr,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			if !started {
				started = true
				if err := r.InstallRelease(ctx, "bench-baseline", bin); err != nil {
					return 0, err
				}
			} else {
				if err := r.RunRoot(ctx, "systemctl stop %s", remote.Quote(c.ServiceUnit())); err != nil {
					return 0, err
				}
				// Copy over the stopped binary, as a plain scp-and-restart does.
				if err := r.Client.Upload(ctx, bin, c.Binary(), 0o755, nil); err != nil {
					return 0, fmt.Errorf("copy binary: %w", err)
				}
			}
			// Deploys must not trip the start rate limit (see restartInPlace).
			// A unit with nothing to reset says so: only start's answer counts.
			_ = r.RunRoot(ctx, "systemctl reset-failed %s", remote.Quote(c.ServiceUnit()))
			if err := r.RunRoot(ctx, "systemctl start %s", remote.Quote(c.ServiceUnit())); err != nil {
				return 0, err
			}
			return sentWhenReady(ctx, bin, "http://"+c.ListenAddr)
		},
		Stop: func(ctx context.Context) error { return backToSlipway(ctx, r) },
	}, nil
}

// backToSlipway removes the single app.service a baseline installed and
// provisions Slipway's units back.
func backToSlipway(ctx context.Context, r *Rig) error {
	c := r.Service
	// The unit may be gone already: only removing its file must work.
	_ = r.RunRoot(ctx, "systemctl disable --now %s", remote.Quote(c.ServiceUnit()))
	_ = r.RunRoot(ctx, "systemctl stop %s", remote.Quote(c.ServiceUnit()))
	if err := r.RunRoot(ctx, "rm -f %s", remote.Quote(path.Join(service.UnitDir, c.ServiceUnit()))); err != nil {
		return err
	}
	if err := r.RunRoot(ctx, "systemctl daemon-reload"); err != nil {
		return err
	}
	_, err := service.Provision(ctx, r.Client, c, io.Discard)
	return err
}

// withoutSocket turns the single service of the layout before instances
// into the same unit without its socket: it binds ADDR itself. It fails if the unit no longer has the lines
// it rewrites, rather than measure a unit that still has a socket.
func withoutSocket(unit string, c service.Config) (string, error) {
	var out []string
	found := 0
	for _, line := range strings.Split(unit, "\n") {
		switch {
		case strings.HasPrefix(line, "# The socket is the front door"), line == "Requires="+c.SocketUnit():
			found++
			continue
		case strings.HasPrefix(line, "After="+c.SocketUnit()+" "):
			found++
			line = "After=" + strings.TrimPrefix(line, "After="+c.SocketUnit()+" ")
		case strings.HasPrefix(line, "EnvironmentFile="):
			found++
			line += "\nEnvironment=ADDR=" + c.ListenAddr
		}
		out = append(out, line)
	}
	s := strings.Join(out, "\n")
	if found != 4 || strings.Contains(s, c.SocketUnit()) {
		return "", fmt.Errorf("bench: %s no longer has the socket lines the baseline removes: update withoutSocket", c.ServiceUnit())
	}
	return s, nil
}

// startRestart installs the layout before instances (service.LegacyUnits):
// one app.service behind its socket. Each deploy is a release folder, the
// switch and a restart in place; a release not ready within the timeout
// is switched back and the previous one restarted, as deploy did.
func startRestart(ctx context.Context, r *Rig, o DeployOptions) (Flow, error) {
	c := r.Service
	units, err := service.LegacyUnits(c)
	if err != nil {
		return Flow{}, err
	}
	// Units already gone are fine: only removing their files must work.
	_ = r.RunRoot(ctx, "systemctl disable --now %s", remote.Quote(c.CurrentUnit()))
	_ = r.RunRoot(ctx, "systemctl stop %s", remote.Quote(c.InstancePattern()))
	if err := r.RunRoot(ctx, "rm -f %s %s", remote.Quote(path.Join(service.UnitDir, c.CurrentUnit())), remote.Quote(path.Join(service.UnitDir, c.TemplateUnit()))); err != nil {
		return Flow{}, err
	}
	for name, b := range units {
		if err := r.WriteRoot(ctx, path.Join(service.UnitDir, name), string(b), 0o644); err != nil {
			return Flow{}, err
		}
	}
	// The socket keeps listening through the reload: its Service= is back
	// to app.service, which it activates again.
	for _, cmd := range []string{"systemctl daemon-reload", "systemctl enable --quiet --now " + remote.Quote(c.SocketUnit()), "systemctl enable --quiet " + remote.Quote(c.ServiceUnit())} {
		if err := r.RunRoot(ctx, "%s", cmd); err != nil {
			return Flow{}, err
		}
	}
	n, live := 0, ""
	return Flow{
		URL: "http://" + c.ListenAddr,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			n++
			id := fmt.Sprintf("bench-%d", n)
			if err := r.InstallRelease(ctx, id, bin); err != nil {
				return 0, err
			}
			err := restartInPlace(ctx, r.Client, c)
			if err == nil {
				err = waitReady(ctx, "http://"+c.ListenAddr+"/readyz", o.readyTimeout())
			}
			if err != nil && live != "" {
				// Back to the release that served, restarted in place.
				if rerr := r.SwitchCurrent(ctx, live); rerr != nil {
					return 0, errors.Join(err, rerr)
				}
				return 0, errors.Join(err, restartInPlace(ctx, r.Client, c))
			}
			if err != nil {
				return 0, err
			}
			live = id
			st, err := os.Stat(bin)
			if err != nil {
				return 0, err
			}
			return st.Size(), nil
		},
		// Keep the serving release only, and Slipway's units.
		Stop: func(ctx context.Context) error {
			out, err := r.Client.Run(ctx, "ls -A "+remote.Quote(c.ReleasesDir()), nil)
			if err != nil {
				return err
			}
			rm := []string{"rm", "-rf", "--"}
			for _, d := range strings.Fields(string(out)) {
				if strings.HasPrefix(d, "bench-") && d != live {
					rm = append(rm, path.Join(c.ReleasesDir(), d))
				}
			}
			if len(rm) > 3 {
				if _, err := r.Client.Run(ctx, remote.QuoteAll(rm), nil); err != nil {
					return err
				}
			}
			return backToSlipway(ctx, r)
		},
	}, nil
}

// startSlipway deploys with deploy.Deploy through the metered alias.
func startSlipway(_ context.Context, r *Rig, o DeployOptions) (Flow, error) {
	return Flow{
		URL: "http://" + r.Service.ListenAddr,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			res, err := deploy.Deploy(ctx, deploy.Options{
				Hosts: []string{r.Inst.Alias}, SSHConfig: r.MeteredConfig, Binary: bin, Service: r.Service,
				ReadyTimeout: o.readyTimeout(), Stdout: io.Discard, Log: r.Log,
			}, false)
			if err != nil {
				return 0, err
			}
			return res[0].Sent, nil
		},
	}, nil
}

// onFreshDatabase points the service at a database of its own before the
// scenario starts: the row's migration then runs for real, once.
func onFreshDatabase(start func(context.Context, *Rig, DeployOptions) (Flow, error)) func(context.Context, *Rig, DeployOptions) (Flow, error) {
	return func(ctx context.Context, r *Rig, o DeployOptions) (Flow, error) {
		if err := r.FreshDatabase(ctx); err != nil {
			return Flow{}, err
		}
		return start(ctx, r, o)
	}
}

// longMigration builds the app with one more migration that sleeps
// o.Migration: a backfill, a CREATE INDEX CONCURRENTLY on a real table.
func longMigration(ctx context.Context, r *Rig, o DeployOptions) (Release, error) {
	secs := int((o.Migration + time.Second - 1) / time.Second)
	mig := fmt.Sprintf("-- +goose Up\nSELECT pg_sleep(%d);\n\n-- +goose Down\nSELECT 1;\n", secs)
	bin, err := r.BuildWith(ctx, "./cmd/app", "bench-migration", "bench-migration", map[string]string{"migrations/00090_bench_long_migration.sql": mig})
	return Release{Binary: bin}, err
}

// neverReady builds a release that never becomes ready, failing in mode
// (internal/deploy/testdata/notready); its answers carry its commit.
func neverReady(mode string) func(context.Context, *Rig, DeployOptions) (Release, error) {
	return func(ctx context.Context, r *Rig, _ DeployOptions) (Release, error) {
		commit := "bench-never-ready-" + mode
		bin, err := r.BuildWith(ctx, "./internal/deploy/testdata/notready", "notready-"+mode, commit, nil)
		return Release{Binary: bin, Fails: true, Mark: commit}, err
	}
}

// sentWhenReady waits for the app at base to answer /readyz and returns
// bin's size: the scenarios that always send the whole binary.
func sentWhenReady(ctx context.Context, bin, base string) (int64, error) {
	st, err := os.Stat(bin)
	if err != nil {
		return 0, err
	}
	return st.Size(), waitReady(ctx, base+"/readyz", time.Minute)
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %s", url, timeout, last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// restartInPlace restarts the old layout's single service (what every deploy
// did before instances) and returns once the new process has sent READY=1.
// The socket stays up meanwhile, so no connection is refused, but requests
// wait while the new process migrates. It first clears the start rate limit
// (StartLimitBurst), which would refuse the eleventh restart in a minute.
func restartInPlace(ctx context.Context, r *remote.Client, c service.Config) error {
	unit := remote.Quote(c.ServiceUnit())
	// A unit with nothing to reset says so: only restart's answer counts.
	_, _ = r.RunRoot(ctx, "systemctl reset-failed "+unit, nil)
	out, err := r.RunRoot(ctx, "systemctl restart "+unit, nil)
	if err == nil {
		return nil
	}
	logs, _ := service.Logs(ctx, r, c, 20)
	return fmt.Errorf("restart %s: %w: %s\nlast log lines:\n%s", c.ServiceUnit(), err, bytes.TrimSpace(out), logs)
}
