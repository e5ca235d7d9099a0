package deploybench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/service"
)

// seedUnit runs the seed's binary: a plain service, no socket activation.
const seedUnit = "app-seed.service"

// bench is one run's set-up on the server.
type bench struct {
	o    Options
	inst *sandbox.Instance
	// r sets up and cleans up outside the counted traffic.
	r   *remote.Client
	svc service.Config // Slipway's service
	// seedAddr is where the seed's app listens; seedBinary its path.
	seedAddr, seedBinary string
	// proxy counts what both flows send to sshd; sshConfig names the
	// sandbox's alias through it.
	proxy     *proxy
	sshConfig string

	tmp  string
	base []byte // the binary each variant is made from
	n    int
	prev string // the last variant's folder, removed with the next one
}

// flow deploys one binary the way it is measured.
type flow struct {
	name string
	url  string // the app's base URL, for the load
	// deploy returns once the binary answers /readyz, with the bytes of
	// binary it sent.
	deploy func(ctx context.Context, bin string) (int64, error)
	stop   func(ctx context.Context) error
}

// setUp provisions Slipway's service and installs the seed's unit, each on
// a port of its own, both reading the env file pointed at the sandbox's
// database.
func setUp(ctx context.Context, o Options, inst *sandbox.Instance, bin, tmp string) (_ *bench, err error) {
	base, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, inst: inst, tmp: tmp, base: base, svc: service.DefaultConfig()}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.close())
		}
	}()
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	b.svc.ListenAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	b.seedAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	b.seedBinary = path.Join(b.svc.DeployPath, "app")
	if b.r, err = remote.Dial(ctx, remote.Options{Alias: inst.Alias, ConfigPath: inst.ConfigPath, Log: o.Log}); err != nil {
		return nil, err
	}
	if _, err := service.Provision(ctx, b.r, b.svc, io.Discard); err != nil {
		return nil, err
	}
	dbURL, err := inst.DatabaseURL()
	if err != nil {
		return nil, err
	}
	// The secret goes through stdin, never argv.
	if out, err := b.r.RunRoot(ctx, "umask 077; cat > "+remote.Quote(b.svc.EnvFile()), strings.NewReader("DATABASE_URL="+dbURL+"\n")); err != nil {
		return nil, fmt.Errorf("write %s: %w: %s", b.svc.EnvFile(), err, out)
	}
	unit := seedUnitFile(b.svc, b.r.Config().User, b.seedBinary, b.seedAddr)
	cmd := fmt.Sprintf("cat > %s && systemctl daemon-reload", remote.Quote(path.Join(service.UnitDir, seedUnit)))
	if out, err := b.r.RunRoot(ctx, cmd, strings.NewReader(unit)); err != nil {
		return nil, fmt.Errorf("install %s: %w: %s", seedUnit, err, out)
	}
	if b.proxy, err = startProxy(fmt.Sprintf("%s:%d", inst.Host, inst.Port)); err != nil {
		return nil, err
	}
	if b.sshConfig, err = proxiedConfig(inst, b.r.Config().User, b.proxy.port(), tmp); err != nil {
		return nil, err
	}
	o.Log.Info("sandbox ready", "slipway", b.svc.ListenAddr, "seed", b.seedAddr)
	return b, nil
}

// seedUnitFile is the seed's unit: the binary scp'd into the home folder,
// run by the SSH user, binding its port itself.
func seedUnitFile(c service.Config, user, binary, addr string) string {
	return fmt.Sprintf(`# The seed's plain set-up, installed by deploybench as its point of comparison.
[Unit]
Description=%[1]s, the seed's plain unit
After=network-online.target postgresql.service

[Service]
ExecStart=%[2]s serve
User=%[3]s
EnvironmentFile=%[4]s
Environment=ADDR=%[5]s
Restart=on-failure
`, c.AppName, binary, user, c.EnvFile(), addr)
}

// close removes the seed's unit and binary, and stops the proxy.
func (b *bench) close() error {
	var errs []error
	if b.r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := fmt.Sprintf("systemctl stop %[1]s; rm -f %[2]s %[3]s && systemctl daemon-reload",
			seedUnit, remote.Quote(path.Join(service.UnitDir, seedUnit)), remote.Quote(b.seedBinary))
		if out, err := b.r.RunRoot(ctx, cmd, nil); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w: %s", seedUnit, err, out))
		}
		errs = append(errs, b.r.Close())
	}
	if b.proxy != nil {
		errs = append(errs, b.proxy.close())
	}
	return errors.Join(errs...)
}

// variant writes a binary the server has not seen: the app with a few bytes
// appended (an ELF ignores what follows its segments), with its checksum
// file, as tmp/v<n>/app so that scp names it app.
func (b *bench) variant() (string, error) {
	b.n++
	dir := filepath.Join(b.tmp, "v"+strconv.Itoa(b.n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	bin := append(b.base[:len(b.base):len(b.base)], fmt.Sprintf("\x00slipway benchDeploy variant %d\n", b.n)...)
	sum := sha256.Sum256(bin)
	if err := os.WriteFile(filepath.Join(dir, "app"), bin, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "app.sha256"), []byte(hex.EncodeToString(sum[:])+"  app\n"), 0o644); err != nil {
		return "", err
	}
	if b.prev != "" {
		os.RemoveAll(b.prev)
	}
	b.prev = dir
	return filepath.Join(dir, "app"), nil
}

// slipway is `go run mage.go deploy`: deploy.Deploy through the alias.
func (b *bench) slipway() flow {
	return flow{
		name: "slipway",
		url:  "http://" + b.svc.ListenAddr,
		deploy: func(ctx context.Context, bin string) (int64, error) {
			res, err := deploy.Deploy(ctx, deploy.Options{
				Hosts: []string{b.inst.Alias}, SSHConfig: b.sshConfig, Binary: bin, Service: b.svc,
				ReadyTimeout: time.Minute, Stdout: io.Discard, Log: b.o.Log,
			}, false)
			if err != nil {
				return 0, err
			}
			return res[0].Sent, nil
		},
		// Slipway's service stays: it is what the server runs from now on.
		stop: func(context.Context) error { return nil },
	}
}

// seed is the seed's flow with OpenSSH: stop the unit (the running binary
// can't be overwritten), `scp bin/app <alias>:/home/admin`, start it, then
// wait for /readyz, as Slipway's deploy does before it returns.
func (b *bench) seed() flow {
	url := "http://" + b.seedAddr
	unitCmd := func(verb string) []string {
		return []string{"ssh", "-F", b.sshConfig, "-o", "BatchMode=yes", b.inst.Alias, "sudo -n systemctl " + verb + " " + seedUnit}
	}
	return flow{
		name: "seed",
		url:  url,
		deploy: func(ctx context.Context, bin string) (int64, error) {
			st, err := os.Stat(bin)
			if err != nil {
				return 0, err
			}
			for _, args := range [][]string{
				unitCmd("stop"),
				{"scp", "-q", "-F", b.sshConfig, "-o", "BatchMode=yes", bin, b.inst.Alias + ":" + path.Dir(b.seedBinary)},
				unitCmd("start"),
			} {
				if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
					return 0, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
				}
			}
			return st.Size(), waitReady(ctx, url+"/readyz", time.Minute)
		},
		stop: func(ctx context.Context) error {
			if out, err := b.r.RunRoot(ctx, "systemctl stop "+seedUnit, nil); err != nil {
				return fmt.Errorf("stop %s: %w: %s", seedUnit, err, out)
			}
			return nil
		},
	}
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

// freePorts returns n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for len(ports) < n {
		p, err := sandbox.FreePort()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}
