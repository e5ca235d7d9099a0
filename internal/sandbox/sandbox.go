package sandbox

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Defaults for a developer's `go run mage.go sandbox:up`.
const (
	DefaultName     = "sandbox"
	DefaultStateDir = "/var/lib/slipway/sandbox"
	DefaultCacheDir = "/var/cache/slipway/sandbox"
)

// Alias is the ssh host alias of every sandbox in its generated ssh config:
// each instance has its own config file, so they never clash.
const Alias = "sandbox"

// ErrNotRunning is returned by Status when no sandbox runs under that name.
var ErrNotRunning = errors.New("sandbox not running")

// Sandbox manages one named instance: its state dir holds the running
// container's pid, port, keys and generated ssh config.
type Sandbox struct {
	log         *slog.Logger
	out         io.Writer
	name        string
	stateDir    string
	cacheDir    string
	mirror      string
	bootTimeout time.Duration
	stopOnExit  bool
	// noPostgreSQL boots the base without PostgreSQL (WithoutPostgreSQL).
	noPostgreSQL bool
	// network and host: the private network the instance joins and its
	// address there (WithNetwork); nil shares this machine's network.
	network *Network
	host    int
	// persistent keeps the root's writes on disk in the state dir
	// (WithPersistentRoot).
	persistent bool
	// exits receives the exit status of each systemd-nspawn this process
	// started, by pid: Reboot tells a reboot (133) from a stop.
	exitsMu sync.Mutex
	exits   map[int]chan int
}

// Option configures a Sandbox.
type Option func(*Sandbox) error

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// WithName sets the instance name (default "sandbox"): instances with
// different names run side by side, each in <state dir>/<name>.
func WithName(name string) Option {
	return func(s *Sandbox) error {
		if !validName.MatchString(name) {
			return fmt.Errorf("sandbox name %q: want 1-40 of [a-z0-9-], starting with a letter or digit", name)
		}
		s.name = name
		return nil
	}
}

// WithStateDir sets the directory holding one subdirectory per instance
// (default /var/lib/slipway/sandbox).
func WithStateDir(dir string) Option {
	return func(s *Sandbox) error {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("sandbox state dir %q: must be absolute", dir)
		}
		s.stateDir = dir
		return nil
	}
}

// WithCacheDir sets where debootstrapped base roots are kept (default
// /var/cache/slipway/sandbox). Each takes ~600 MB.
func WithCacheDir(dir string) Option {
	return func(s *Sandbox) error {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("sandbox cache dir %q: must be absolute", dir)
		}
		s.cacheDir = dir
		return nil
	}
}

// WithMirror sets the Debian mirror for debootstrap instead of the one found
// in the host's apt sources.
func WithMirror(url string) Option {
	return func(s *Sandbox) error {
		s.mirror = url
		return nil
	}
}

// WithBootTimeout bounds how long Up waits for the container to be ready
// (default 3 minutes; a 2-core CI machine boots it in ~10 s).
func WithBootTimeout(d time.Duration) Option {
	return func(s *Sandbox) error {
		if d <= 0 {
			return fmt.Errorf("sandbox boot timeout %v: must be positive", d)
		}
		s.bootTimeout = d
		return nil
	}
}

// WithStopOnExit ties the container's life to the calling process: when it
// exits, even by a crash or a `go test` timeout, the kernel sends the
// container SIGTERM. Test helpers want this; `sandbox:up` must not.
func WithStopOnExit() Option {
	return func(s *Sandbox) error {
		s.stopOnExit = true
		return nil
	}
}

// WithoutPostgreSQL boots the instance from a second base, cached like the
// first, that has no PostgreSQL: an empty server, as provision finds a
// fresh VPS. The package mirror stays reachable (the host's network), so
// apt-get works inside. Instance.DatabaseURL and FreshDatabase need the
// first base.
func WithoutPostgreSQL() Option {
	return func(s *Sandbox) error {
		s.noPostgreSQL = true
		return nil
	}
}

// WithNetwork makes the instance join nw (systemd-nspawn --network-bridge)
// with the static address nw.Addr(host) on its host0, set by
// systemd-networkd from a file injected per instance, with no gateway. sshd
// listens on port 22 of the sandbox's own network namespace: Instance.Host is
// the address, Instance.Port 22, and known_hosts and the ssh config use them.
// It implies the "private" base, which has every package the tests install
// preinstalled (the sandbox has no route to a mirror). With its own network
// namespace the sandbox keeps CAP_NET_ADMIN: a firewall applies to it alone.
func WithNetwork(nw *Network, host int) Option {
	return func(s *Sandbox) error {
		if nw == nil {
			return fmt.Errorf("sandbox network: nil Network (create one with sandbox.NewNetwork)")
		}
		if host < 2 || host > 254 {
			return fmt.Errorf("sandbox network: host %d: want 2-254 (.1 is this machine's address %s)", host, nw.HostAddr)
		}
		s.network, s.host = nw, host
		return nil
	}
}

// WithPersistentRoot keeps the instance's writes on disk: its root is an
// overlay of the base whose upper layer lives in the state dir, mounted on
// this machine, instead of nspawn's tmpfs (--volatile=overlay). The root then
// survives a reboot inside (Instance.Reboot) and a crash (Instance.Crash,
// Instance.Boot); Down unmounts and removes it.
func WithPersistentRoot() Option {
	return func(s *Sandbox) error {
		s.persistent = true
		return nil
	}
}

// FromEnv returns the options set by SANDBOX_NAME, SANDBOX_DIR (state dir),
// SANDBOX_CACHE_DIR and SANDBOX_MIRROR.
func FromEnv(getenv func(string) string) []Option {
	var opts []Option
	if v := getenv("SANDBOX_NAME"); v != "" {
		opts = append(opts, WithName(v))
	}
	if v := getenv("SANDBOX_DIR"); v != "" {
		opts = append(opts, WithStateDir(v))
	}
	if v := getenv("SANDBOX_CACHE_DIR"); v != "" {
		opts = append(opts, WithCacheDir(v))
	}
	if v := getenv("SANDBOX_MIRROR"); v != "" {
		opts = append(opts, WithMirror(v))
	}
	return opts
}

// WithStdout sends the progress sentences (building the base, up, down) to
// w, as every target prints its progress; without it they are discarded.
// Details (each command) go to the logger at debug level.
func WithStdout(w io.Writer) Option {
	return func(s *Sandbox) error { s.out = w; return nil }
}

// New returns a Sandbox for one instance; nothing is started.
func New(log *slog.Logger, opts ...Option) (*Sandbox, error) {
	s := &Sandbox{
		log:         log,
		name:        DefaultName,
		stateDir:    DefaultStateDir,
		cacheDir:    DefaultCacheDir,
		bootTimeout: 3 * time.Minute,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.network != nil && s.noPostgreSQL {
		return nil, fmt.Errorf("sandbox: WithoutPostgreSQL and WithNetwork together: a private sandbox has no mirror, so provision could not install PostgreSQL; drop one of them")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.out == nil {
		s.out = io.Discard
	}
	return s, nil
}

// printf prints one progress sentence.
func (s *Sandbox) printf(format string, args ...any) {
	fmt.Fprintf(s.out, format+"\n", args...)
}

// Dir is the instance's state dir: state.json, ssh config, keys, log.
func (s *Sandbox) Dir() string { return filepath.Join(s.stateDir, s.name) }

// Name is the instance name.
func (s *Sandbox) Name() string { return s.name }

func (s *Sandbox) path(name string) string { return filepath.Join(s.Dir(), name) }

// resolveMirror is called only when a base must be built: a cached base
// needs no network at all.
func (s *Sandbox) resolveMirror() (string, error) {
	if s.mirror != "" {
		return s.mirror, nil
	}
	return hostMirror(os.DirFS("/etc/apt"), suite)
}
