package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
)

// Instance is a running sandbox: how to reach it over ssh and how to run
// commands inside it.
type Instance struct {
	// Name is the instance name; Dir its state dir.
	Name string
	Dir  string
	// Alias is the ssh host alias defined in ConfigPath ("sandbox"):
	// `ssh -F ConfigPath Alias` logs in as admin.
	Alias      string
	ConfigPath string
	// KeyPath is admin's private key; KnownHostsPath holds the sandbox's
	// host key under "[127.0.0.1]:Port" (or the bare address on a Network).
	KeyPath        string
	KnownHostsPath string
	// Host and Port are where sshd listens: 127.0.0.1 and a free port, or
	// the sandbox's address on its Network (WithNetwork) and 22.
	Host string
	Port int
	// PID is the systemd-nspawn process; Leader the container's systemd
	// (PID 1 inside) as seen from the host.
	PID    int
	Leader int

	sb    *Sandbox
	state state
}

// state is what state.json records about a running instance.
type state struct {
	PID             int    `json:"pid"`
	StartTime       uint64 `json:"start_time"`
	Leader          int    `json:"leader"`
	LeaderStartTime uint64 `json:"leader_start_time"`
	Port            int    `json:"port"`
	Base            string `json:"base"`
	// Host is sshd's address: 127.0.0.1, or the address on a Network.
	Host string `json:"host,omitempty"`
	// Veth is the host end of a private sandbox's veth pair; Root the
	// mount point of a persistent root (both "" otherwise).
	Veth      string    `json:"veth,omitempty"`
	Root      string    `json:"root,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Files in the instance's state dir.
const (
	stateFile      = "state.json"
	logFile        = "nspawn.log"
	lockName       = "lock"
	keyFile        = "id_ed25519"
	knownHostsFile = "known_hosts"
	configFile     = "ssh_config"
	dbPasswordFile = "db_password"
	injectDir      = "inject"
	// The persistent root (WithPersistentRoot): overlay mount point, upper
	// layer and overlayfs's work dir.
	rootDir  = "root"
	upperDir = "upper"
	workDir  = "work"
)

func (s *Sandbox) instance(st state) *Instance {
	if st.Host == "" {
		st.Host = "127.0.0.1"
	}
	return &Instance{
		Name:           s.name,
		Dir:            s.Dir(),
		Alias:          Alias,
		ConfigPath:     s.path(configFile),
		KeyPath:        s.path(keyFile),
		KnownHostsPath: s.path(knownHostsFile),
		Host:           st.Host,
		Port:           st.Port,
		PID:            st.PID,
		Leader:         st.Leader,
		sb:             s,
		state:          st,
	}
}

// load reads state.json; os.ErrNotExist when the instance never started or
// was brought down.
func (s *Sandbox) load() (*Instance, error) {
	b, err := os.ReadFile(s.path(stateFile))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path(stateFile), err)
	}
	return s.instance(st), nil
}

func (s *Sandbox) save(st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path(stateFile + ".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return os.Rename(tmp, s.path(stateFile))
}

// running reports whether the container recorded in state still runs.
func (i *Instance) running() bool {
	return alive(i.state.PID, i.state.StartTime)
}

// Status returns the running instance, or ErrNotRunning.
func (s *Sandbox) Status(ctx context.Context) (*Instance, error) {
	inst, err := s.load()
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, err
	}
	if !inst.running() {
		return nil, fmt.Errorf("%w (stale state from pid %d: up or down clears it)", ErrNotRunning, inst.PID)
	}
	return inst, nil
}

// Usage tells a human how to reach the instance.
func (i *Instance) Usage() string {
	return fmt.Sprintf(`sandbox %q running: sshd on %s:%d, systemd-nspawn pid %d
  ssh -F %s %s
  DEPLOY_HOST=%s DEPLOY_SSH_CONFIG=%s go run mage.go deploy
  go run mage.go sandbox:down`,
		i.Name, i.Host, i.Port, i.PID, i.ConfigPath, i.Alias, i.Alias, i.ConfigPath)
}

// Command returns a command that runs inside the sandbox as root, with a
// clean environment, by entering the container's namespaces (nsenter): it
// works even when sshd does not. Set Stdin, Stdout, Env... before running.
func (i *Instance) Command(ctx context.Context, name string, arg ...string) *exec.Cmd {
	args := append([]string{"--target", strconv.Itoa(i.Leader), "--all", "--root", "--wd", "--", name}, arg...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs a command inside the sandbox as root and returns its combined
// output; the error carries that output too.
func (i *Instance) Run(ctx context.Context, name string, arg ...string) (string, error) {
	out, err := i.Command(ctx, name, arg...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("sandbox: %s %s: %w: %s", name, strings.Join(arg, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// DatabaseURL is the connection string, valid inside the sandbox, for the
// app's role and database (`app`/`app`, over the unix socket: PostgreSQL
// listens on no TCP port). It holds the role's password, generated at up and
// kept in a root-only file of the state dir: never log it.
func (i *Instance) DatabaseURL() (string, error) {
	pw, err := os.ReadFile(i.sb.path(dbPasswordFile))
	if err != nil {
		return "", fmt.Errorf("read db password: %w", err)
	}
	return fmt.Sprintf("postgres://app:%s@/app?host=/var/run/postgresql", strings.TrimSpace(string(pw))), nil
}

// Stop brings the instance down (see Sandbox.Down).
func (i *Instance) Stop(ctx context.Context) error {
	return i.sb.Down(ctx)
}

// ConfigVia writes, in dir, an ssh config whose alias reaches this sandbox
// through another port on 127.0.0.1 (a proxy in front of its sshd), and the
// known_hosts it checks: the sandbox's host key recorded under that port, so
// host key checking stays strict. It returns the config's path.
func (i *Instance) ConfigVia(dir, alias string, port int) (string, error) {
	known, err := os.ReadFile(i.KnownHostsPath)
	if err != nil {
		return "", err
	}
	from, to := fmt.Sprintf("[127.0.0.1]:%d ", i.Port), fmt.Sprintf("[127.0.0.1]:%d ", port)
	if !strings.Contains(string(known), from) {
		return "", fmt.Errorf("%s holds no host key for %s", i.KnownHostsPath, strings.TrimSpace(from))
	}
	knownPath := filepath.Join(dir, alias+".known_hosts")
	if err := os.WriteFile(knownPath, []byte(strings.ReplaceAll(string(known), from, to)), 0o600); err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, alias+".ssh_config")
	return cfgPath, os.WriteFile(cfgPath, []byte(remote.HostEntry(alias, port, "admin", i.KeyPath, knownPath)), 0o600)
}
