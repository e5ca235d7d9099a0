// Package pgcluster runs a private PostgreSQL cluster from the machine's own
// server binaries: throwaway ones for tests, a persistent one for `dev`.
//
// The cluster listens only on a unix socket in its own 0700 folder, owned by
// the server's OS user, never on TCP: authentication is `trust`, so whoever
// reaches the socket is superuser (and COPY ... TO PROGRAM runs commands as
// the server's user). The folder's mode is what keeps other local users out;
// root still gets in. Being private, the socket can't collide with a
// PostgreSQL the machine already runs. fsync is off: the data of a
// development cluster is not worth the disk flushes.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the cluster's superuser role. Local connections are trusted:
// the cluster only listens on a socket in a folder only its owner can enter.
const Superuser = "postgres"

// InstallHint says how to get the server binaries.
const InstallHint = "install the PostgreSQL server: apt-get install postgresql (Debian/Ubuntu), dnf install postgresql-server (Fedora), brew install postgresql (macOS)"

// Options configures Start.
type Options struct {
	// Dir keeps the cluster (data, socket, log, port) across runs. Empty means
	// a temporary folder that Stop removes.
	Dir string
}

// Cluster is a running PostgreSQL server started by Start.
type Cluster struct {
	root    string
	data    string
	sock    string
	logFile string
	port    int
	temp    bool
	bin     string
	cred    *syscall.Credential
	tmpSock bool
	reused  bool
}

// BinDir finds the folder holding initdb and pg_ctl: PATH first, then the
// newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	return binDir("/usr/lib/postgresql/*/bin")
}

func binDir(glob string) (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: " + InstallHint)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// Start initialises (when new) and starts a cluster. With Options.Dir set and
// a server already running there, it reuses that server.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if c.cred, err = credential(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		c.root, err = os.MkdirTemp("", "slipway-pg-")
		if err != nil {
			return nil, err
		}
		c.temp = true
	} else {
		c.root, err = filepath.Abs(opts.Dir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(c.root), 0o755); err != nil {
			return nil, err
		}
		if err := os.Mkdir(c.root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		// A folder made by an older Slipway, or by hand, may be open to all.
		if err := os.Chmod(c.root, 0o700); err != nil {
			return nil, err
		}
		if err := c.reachable(filepath.Dir(c.root)); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			c.cleanup()
		}
	}()
	c.data = filepath.Join(c.root, "data")
	c.logFile = filepath.Join(c.root, "postgres.log")
	if err := c.chown(c.root); err != nil {
		return nil, err
	}
	if err := c.pickSocketDir(); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if port, running := c.running(ctx); running {
		c.port, c.reused = port, true
		ok = true
		return c, nil
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// credential is who runs the server: the current user, or the unprivileged
// "postgres" account when we are root, because initdb refuses to run as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and initdb refuses root: create an unprivileged 'postgres' user (apt-get install postgresql does) or run as a normal user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// reachable checks that the server's user can walk down to dir: as root
// the server runs as "postgres", and a repository under a private folder
// (mktemp -d, /root) is out of its reach.
func (c *Cluster) reachable(dir string) error {
	if c.cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		owned := sys != nil && sys.Uid == c.cred.Uid
		if st.Mode().Perm()&0o001 == 0 && !owned {
			return fmt.Errorf("the postgres user (the server can't run as root) can't enter %s (mode %v): run chmod o+x %s, or set DATABASE_URL to a server of yours", d, st.Mode().Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", path, err)
	}
	return nil
}

// pickSocketDir keeps the socket inside the cluster folder unless that path
// is too long for a unix socket (108 bytes on Linux).
func (c *Cluster) pickSocketDir() error {
	c.sock = filepath.Join(c.root, "run")
	if len(c.sock)+len("/.s.PGSQL.65535") >= 100 {
		d, err := os.MkdirTemp("", "pgs")
		if err != nil {
			return err
		}
		c.sock, c.tmpSock = d, true
	} else if err := os.MkdirAll(c.sock, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(c.sock, 0o700); err != nil {
		return err
	}
	return c.chown(c.sock)
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// Own process group: a Ctrl-C meant for `dev` must not reach the server
	// before we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Dir = c.root
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if tail := c.logTail(); tail != "" {
			msg += "\n" + tail
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	// TCP is off (listen_addresses=''), and refused by pg_hba.conf too, in
	// case someone turns it on in postgresql.conf.
	return c.run(ctx, "initdb", "-D", c.data, "-U", Superuser, "--auth-local=trust", "--auth-host=reject",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
}

func (c *Cluster) start(ctx context.Context) error {
	c.port = socketPort
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", c.sock,
		"-c", "listen_addresses=''",
		"-c", "unix_socket_permissions=0700",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
	}, " ")
	if err := c.run(ctx, "pg_ctl", "-D", c.data, "-l", c.logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.root, "port"), []byte(strconv.Itoa(c.port)), 0o600)
}

// socketPort only names the socket file (.s.PGSQL.5432): the folder is the
// cluster's own, so the default can't collide with another server.
const socketPort = 5432

// running reports whether a server already runs in the cluster folder (a
// `dev` started earlier) and on which port.
func (c *Cluster) running(ctx context.Context) (int, bool) {
	if c.command(ctx, "pg_ctl", "-D", c.data, "status").Run() != nil {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(c.root, "port"))
	if err != nil {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return port, err == nil
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logFile)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// Port is the port number in the socket's file name.
func (c *Cluster) Port() int { return c.port }

// SocketDir is the folder holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.sock }

// Reused reports whether Start found the server already running (started by
// another process, such as a running `dev`) rather than starting it.
func (c *Cluster) Reused() bool { return c.reused }

// Dir is the cluster's folder.
func (c *Cluster) Dir() string { return c.root }

// URL is a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string {
	return c.URLAs(Superuser, db)
}

// URLAs is a connection URL for database db as role, which logs in
// without a password like every local connection.
func (c *Cluster) URLAs(role, db string) string {
	q := url.Values{"host": {c.sock}, "port": {strconv.Itoa(c.port)}}
	u := url.URL{Scheme: "postgres", User: url.User(role), Path: "/" + db, RawQuery: q.Encode()}
	return u.String()
}

// CreateDatabase creates db unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, db string) error {
	return CreateDatabase(ctx, c.URL("postgres"), db, "")
}

// CreateDatabase creates database db on the server adminURL points at,
// unless it exists, optionally as a copy of template.
func CreateDatabase(ctx context.Context, adminURL, db, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	sql := "CREATE DATABASE " + pgx.Identifier{db}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// Stop shuts the server down (fast: open sessions are ended) and, for a
// temporary cluster, removes its files.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.run(ctx, "pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
	c.cleanup()
	return err
}

func (c *Cluster) cleanup() {
	if c.tmpSock {
		os.RemoveAll(c.sock)
	}
	if c.temp {
		os.RemoveAll(c.root)
	}
}
