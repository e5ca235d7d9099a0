package sandbox

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// suite is the Debian release of the sandbox: what a fresh VPS runs today.
const suite = "bookworm"

// packages are installed on top of debootstrap's minbase variant. systemd-sysv
// provides /sbin/init for --boot; dbus lets systemctl, logind and hostnamectl
// behave as on a real server.
var packages = []string{
	"ca-certificates",
	"dbus",
	"openssh-server",
	"postgresql",
	"sudo",
	"systemd",
	"systemd-sysv",
}

// setupScript turns the debootstrapped tree into the fresh VPS users get,
// minus what must differ per instance (host key, admin key, sshd port: those
// are bind-mounted at boot). It runs once per base, inside the tree.
//
//go:embed setup.sh
var setupScript string

// postgresqlSetup is setupScript's end on the base with PostgreSQL.
//
//go:embed setup-postgresql.sh
var postgresqlSetup string

// noPostgreSQLSetup is setupScript's end on the base without PostgreSQL
// (WithoutPostgreSQL): a cluster that provision installs later listens on
// its unix socket only, for the same reason as above. Debian's
// pg_createcluster reads this folder; a real server has none of it.
//
//go:embed setup-no-postgresql.sh
var noPostgreSQLSetup string

// privatePackages are added to packages in the "private" base (WithNetwork):
// everything the tests install on a server, since that sandbox reaches no
// mirror. iproute2 for `ip`; curl and netcat-openbsd for checks and test
// listeners inside; nftables, unattended-upgrades (provision's server
// basics) and pgbackrest (backups) as provision would install them.
var privatePackages = []string{
	"curl",
	"iproute2",
	"netcat-openbsd",
	"nftables",
	"pgbackrest",
	"procps",
	"unattended-upgrades",
}

// privateSetup is setupScript's end on the private base: networkd sets the
// static address injected per instance.
//
//go:embed setup-private.sh
var privateSetup string

// recipe is what a base is built from: the packages over minbase and the
// setup script.
func (s *Sandbox) recipe() (pkgs []string, script string) {
	if s.network != nil {
		pkgs = append(append(pkgs, packages...), privatePackages...)
		return pkgs, setupScript + postgresqlSetup + privateSetup
	}
	if !s.noPostgreSQL {
		// unattended-upgrades, as most VPS images have it: provision then
		// only checks it, where every package that provisions here would
		// otherwise install it (~16 s each). The empty base (below) lacks
		// it, so provision's install is tested there.
		return append(slices.Clone(packages), "unattended-upgrades"), setupScript + postgresqlSetup
	}
	// procps: ps, as every server image has.
	pkgs = []string{"procps"}
	for _, p := range packages {
		if p != "postgresql" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, setupScript + noPostgreSQLSetup
}

// baseKey names a base by its recipe, so changing the package list or the
// setup script builds a new base instead of reusing a stale one.
func (s *Sandbox) baseKey() string {
	pkgs, script := s.recipe()
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s", suite, strings.Join(pkgs, ","), script)
	kind := suite
	if s.network != nil {
		kind += "-private"
	}
	return kind + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureBase returns the cached base root, building it first if needed.
func (s *Sandbox) ensureBase(ctx context.Context) (string, error) {
	key := s.baseKey()
	pkgs, script := s.recipe()
	dir := filepath.Join(s.cacheDir, key+".base")
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(s.cacheDir, key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	mirror, err := s.resolveMirror()
	if err != nil {
		return "", err
	}
	// Holding the lock, any tmp dir of this key is a build that died.
	stale, _ := filepath.Glob(filepath.Join(s.cacheDir, key+".tmp-*"))
	for _, d := range stale {
		if err := removeTree(d); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(s.cacheDir, fmt.Sprintf("%s.tmp-%d", key, os.Getpid()))
	logPath := filepath.Join(s.cacheDir, key+".build.log")
	s.printf("sandbox: building the base root with debootstrap, about a minute (%s from %s into %s, log %s)", suite, mirror, dir, logPath)
	start := time.Now()
	logf, err := os.Create(logPath)
	if err != nil {
		return "", fmt.Errorf("create build log: %w", err)
	}
	defer logf.Close()
	steps := [][]string{
		{"debootstrap", "--variant=minbase", "--include=" + strings.Join(pkgs, ","), suite, tmp, mirror},
		{"systemd-nspawn", "--quiet", "--directory=" + tmp, "--register=no", "--keep-unit", "--console=pipe",
			"--", "/bin/sh", "-c", script},
	}
	for _, argv := range steps {
		if err := runLogged(ctx, logf, argv); err != nil {
			_ = removeTree(tmp)
			return "", fmt.Errorf("build base: %s: %w\n%s", argv[0], err, tail(logPath, 15))
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = removeTree(tmp)
		return "", fmt.Errorf("build base: %w", err)
	}
	s.printf("sandbox: base root built in %s (%s)", time.Since(start).Round(time.Second), dir)
	return dir, nil
}

// runLogged runs argv with its output appended to logf. Its whole process
// group dies with ctx: debootstrap runs dpkg and chroots under it.
func runLogged(ctx context.Context, logf *os.File, argv []string) error {
	fmt.Fprintf(logf, "+ %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}

// removeTree unmounts whatever a failed debootstrap left mounted under dir
// (proc, sys) before deleting it: RemoveAll must never walk into the host's
// /proc or /sys.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", mounts[i], err)
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
