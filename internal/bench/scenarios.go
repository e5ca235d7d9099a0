package bench

import (
	"bytes"
	"context"
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
	// ScenarioRestart is a new release folder, current switched and
	// `systemctl restart` with the socket unit and the app's drain: the
	// restart step of a deploy, alone.
	ScenarioRestart = "switch + restart, socket activation + drain"
	// ScenarioSlipway is `go run mage.go deploy`. It runs last: it leaves
	// Slipway's service serving.
	ScenarioSlipway = "Slipway deploy"
)

// DeployScenarios are bench:deploy's rows. Add a Scenario here and its row
// appears in the table, measured under the same load as the others.
func DeployScenarios() []Scenario {
	return []Scenario{
		{Name: ScenarioSeed, Timed: true, Start: startSeed},
		{Name: ScenarioStopCopyStart, Start: startStopCopyStart},
		{Name: ScenarioRestart, Start: startRestart},
		{Name: ScenarioSlipway, Timed: true, Start: startSlipway},
	}
}

// seedUnit runs the seed's binary.
const seedUnit = "app-seed.service"

// startSeed installs the seed's unit: the binary scp'd into the home
// folder, run by the SSH user, binding its own port.
func startSeed(ctx context.Context, r *Rig) (Flow, error) {
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
	if err := r.WriteRoot(ctx, unitPath, unit, "022"); err != nil {
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
			return r.RunRoot(ctx, "systemctl stop %[1]s; rm -f %[2]s %[3]s && systemctl daemon-reload",
				seedUnit, remote.Quote(unitPath), remote.Quote(binary))
		},
	}, nil
}

// startStopCopyStart replaces Slipway's units by the service alone, bound
// to the port itself; Stop provisions Slipway's units back.
func startStopCopyStart(ctx context.Context, r *Rig) (Flow, error) {
	c := r.Service
	units, err := service.Units(c)
	if err != nil {
		return Flow{}, err
	}
	unit, err := withoutSocket(string(units[c.ServiceUnit()]), c)
	if err != nil {
		return Flow{}, err
	}
	if err := r.RunRoot(ctx, "systemctl disable --now %s %s 2>&1", remote.Quote(c.SocketUnit()), remote.Quote(c.ServiceUnit())); err != nil {
		return Flow{}, err
	}
	if err := r.WriteRoot(ctx, path.Join(service.UnitDir, c.ServiceUnit()), unit, "022"); err != nil {
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
				f, err := os.Open(bin)
				if err != nil {
					return 0, err
				}
				defer f.Close()
				if out, err := r.Client.Run(ctx, "cat > "+remote.Quote(c.Binary()), f); err != nil {
					return 0, fmt.Errorf("copy binary: %w: %s", err, out)
				}
			}
			// Deploys must not trip the start rate limit (see service.Restart).
			if err := r.RunRoot(ctx, "systemctl reset-failed %[1]s; systemctl start %[1]s", remote.Quote(c.ServiceUnit())); err != nil {
				return 0, err
			}
			return sentWhenReady(ctx, bin, "http://"+c.ListenAddr)
		},
		Stop: func(ctx context.Context) error {
			if err := r.RunRoot(ctx, "systemctl stop %s", remote.Quote(c.ServiceUnit())); err != nil {
				return err
			}
			_, err := service.Provision(ctx, r.Client, c, io.Discard)
			return err
		},
	}, nil
}

// withoutSocket turns Slipway's service unit into the same unit without its
// socket: it binds ADDR itself. It fails if the unit no longer has the lines
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

// startRestart makes sure Slipway's units are installed and the socket
// listening; each deploy is a release folder, the switch and a restart.
func startRestart(ctx context.Context, r *Rig) (Flow, error) {
	c := r.Service
	if _, err := service.Ensure(ctx, r.Client, c); err != nil {
		return Flow{}, err
	}
	if err := r.RunRoot(ctx, "systemctl enable --quiet --now %s && systemctl enable --quiet %s", remote.Quote(c.SocketUnit()), remote.Quote(c.ServiceUnit())); err != nil {
		return Flow{}, err
	}
	n := 0
	return Flow{
		URL: "http://" + c.ListenAddr,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			n++
			if err := r.InstallRelease(ctx, fmt.Sprintf("bench-%d", n), bin); err != nil {
				return 0, err
			}
			if err := service.Restart(ctx, r.Client, c); err != nil {
				return 0, err
			}
			return sentWhenReady(ctx, bin, "http://"+c.ListenAddr)
		},
		// Keep the serving release only.
		Stop: func(ctx context.Context) error {
			_, err := r.Client.Run(ctx, fmt.Sprintf(`cd %s && for d in bench-*; do [ "$d" = bench-%d ] || rm -rf "$d"; done`, remote.Quote(c.ReleasesDir()), n), nil)
			return err
		},
	}, nil
}

// startSlipway deploys with deploy.Deploy through the metered alias.
func startSlipway(ctx context.Context, r *Rig) (Flow, error) {
	return Flow{
		URL: "http://" + r.Service.ListenAddr,
		Deploy: func(ctx context.Context, bin string) (int64, error) {
			res, err := deploy.Deploy(ctx, deploy.Options{
				Hosts: []string{r.Inst.Alias}, SSHConfig: r.MeteredConfig, Binary: bin, Service: r.Service,
				ReadyTimeout: time.Minute, Stdout: io.Discard, Log: r.Log,
			}, false)
			if err != nil {
				return 0, err
			}
			return res[0].Sent, nil
		},
	}, nil
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
