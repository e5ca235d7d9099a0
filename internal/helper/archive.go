package helper

// Continuous archiving of the PostgreSQL provision manages to an
// S3-compatible bucket with pgBackRest (Debian's package): WAL pushed as
// each segment fills (or archive_timeout passes), full and differential
// backups on timers, encrypted in the repository, pruned by pgBackRest's own
// retention. One stanza, named after the app, per cluster.
//
// The secrets (S3 key and secret, the repository passphrase) come in the
// request, on stdin, and go only into the stanza's config file (root:postgres
// 0640): pgBackRest reads them there, never from argv.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PgBackRestConfDir holds one config file per stanza (pgBackRest reads
// every *.conf there besides its main file).
const PgBackRestConfDir = "/etc/pgbackrest/conf.d"

// ArchiveArgs configure a stanza: the app whose name it takes, where the
// repository is, its key, retention and schedules.
type ArchiveArgs struct {
	// App names the stanza, the config file and the units.
	App string `json:"app"`
	// Endpoint is the S3 server, host or host:port (443 by default).
	Endpoint string `json:"endpoint"`
	// Bucket, Prefix (the repository's path in it, "/..."), Region.
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	Region string `json:"region"`
	// Key and Secret are the S3 credentials; CipherPass the repository's
	// passphrase (aes-256-cbc).
	Key        string `json:"key"`
	Secret     string `json:"secret"`
	CipherPass string `json:"cipher_pass"`
	// CA, when set, is the PEM of the CA that signs the S3 server's
	// certificate (a self-hosted server); "" trusts the system's CAs.
	CA string `json:"ca,omitempty"`
	// RetentionFull and RetentionDiff are pgBackRest's repo1-retention-full
	// and repo1-retention-diff: how many full backups stay, and how many
	// differential ones.
	RetentionFull int `json:"retention_full"`
	RetentionDiff int `json:"retention_diff"`
	// FullSchedule and DiffSchedule are the timers' OnCalendar=.
	FullSchedule string `json:"full_schedule"`
	DiffSchedule string `json:"diff_schedule"`
	// ArchiveTimeout is PostgreSQL's archive_timeout in seconds: the most
	// data a quiet server can lose.
	ArchiveTimeout int `json:"archive_timeout"`
	// OnFailure is the units' OnFailure= ("" none): the notify template.
	OnFailure string `json:"on_failure,omitempty"`
	// Marker is the file provision leaves when it installed PostgreSQL:
	// without it the cluster is someone else's, and the step answers
	// "ok theirs" having changed nothing.
	Marker string `json:"marker"`
}

var (
	bucketRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	prefixRE   = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
	regionRE   = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)
	calendarRE = regexp.MustCompile(`^[A-Za-z0-9 ,.:*/~-]{1,80}$`)
	appNameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	// A config file's value: one line, no leading or trailing space.
	confValueRE = regexp.MustCompile(`^[^\s\x00-\x1f](?:[^\x00-\x1f]*[^\s\x00-\x1f])?$`)
)

// check refuses arguments that can't make a working stanza, naming the
// setting to fix. It never echoes a secret.
func (a ArchiveArgs) check() error {
	if !appNameRE.MatchString(a.App) {
		return fmt.Errorf("app name %q: want lower-case letters, digits and - (APP_NAME)", a.App)
	}
	host, port, err := net.SplitHostPort(a.Endpoint)
	if err != nil {
		host, port = a.Endpoint, "443"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || !hostRE.MatchString(host) || strings.ContainsAny(host, "@:/") {
		return fmt.Errorf("BACKUP_S3_ENDPOINT %q: want the S3 server's host name, or host:port (e.g. s3.eu-central-1.amazonaws.com)", a.Endpoint)
	}
	switch {
	case !bucketRE.MatchString(a.Bucket):
		return fmt.Errorf("BACKUP_S3_BUCKET %q: want a bucket name (3-63 lower-case letters, digits, . and -)", a.Bucket)
	case !prefixRE.MatchString(a.Prefix):
		return fmt.Errorf("BACKUP_S3_PREFIX %q: want a path like /slipway/app (letters, digits, . _ - between slashes)", a.Prefix)
	case !regionRE.MatchString(a.Region):
		return fmt.Errorf("BACKUP_S3_REGION %q: want a region like us-east-1", a.Region)
	case !confValueRE.MatchString(a.Key) || !confValueRE.MatchString(a.Secret):
		return errors.New("BACKUP_S3_KEY and BACKUP_S3_SECRET: want both set, each on one line")
	case len(a.CipherPass) < 20 || !confValueRE.MatchString(a.CipherPass):
		return errors.New("BACKUP_CIPHER_PASS: want a passphrase of at least 20 characters on one line (e.g. openssl rand -base64 48)")
	case a.CA != "" && !strings.HasPrefix(strings.TrimSpace(a.CA), "-----BEGIN CERTIFICATE-----"):
		return errors.New("BACKUP_S3_CA_FILE: want a PEM certificate (-----BEGIN CERTIFICATE-----)")
	case a.RetentionFull < 1 || a.RetentionFull > 9999999 || a.RetentionDiff < 1 || a.RetentionDiff > 9999999:
		return fmt.Errorf("BACKUP_RETENTION_FULL=%d, BACKUP_RETENTION_DIFF=%d: want counts of at least 1", a.RetentionFull, a.RetentionDiff)
	case !calendarRE.MatchString(a.FullSchedule) || !calendarRE.MatchString(a.DiffSchedule):
		return fmt.Errorf("BACKUP_FULL_SCHEDULE %q, BACKUP_DIFF_SCHEDULE %q: want systemd calendar events (systemd.time(7), e.g. \"Sun *-*-* 03:00\")", a.FullSchedule, a.DiffSchedule)
	case a.ArchiveTimeout < 10 || a.ArchiveTimeout > 86400:
		return fmt.Errorf("BACKUP_ARCHIVE_TIMEOUT=%d: want seconds between 10 and 86400", a.ArchiveTimeout)
	case !absClean(a.Marker):
		return fmt.Errorf("marker %q: want an absolute, clean path", a.Marker)
	case a.OnFailure != "" && !unitNameRE.MatchString(a.OnFailure):
		return fmt.Errorf("OnFailure %q: not a unit name", a.OnFailure)
	}
	return nil
}

var unitNameRE = regexp.MustCompile(`^[A-Za-z0-9@%._:-]{1,200}$`)

// ArchiveConfFile is the stanza's config file.
func ArchiveConfFile(app string) string { return path.Join(PgBackRestConfDir, app+".conf") }

// ArchiveCAFile is where the S3 server's CA goes, when given.
func ArchiveCAFile(app string) string { return path.Join("/etc/pgbackrest", app+"-s3-ca.pem") }

// ArchiveUnits are the backup units' names: <app>-backup (differential)
// and <app>-backup-full, each a .service and a .timer.
func ArchiveUnits(app string) (diff, full string) { return app + "-backup", app + "-backup-full" }

// archiveConf is the stanza's config file: every option in the stanza's
// section, so two apps' files never mix.
func archiveConf(a ArchiveArgs, c liveCluster) []byte {
	host, port, err := net.SplitHostPort(a.Endpoint)
	if err != nil {
		host, port = a.Endpoint, "443"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by Slipway's provision (stanza of app %s). Holds secrets: root:postgres 0640.\n[%s]\n", a.App, a.App)
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	kv("pg1-path", c.dataDir)
	// The cluster's own port and socket folder: Debian's psql finds a
	// cluster on another port by itself, pgBackRest's libpq doesn't.
	kv("pg1-port", c.port)
	kv("pg1-socket-path", c.socketDir)
	kv("repo1-type", "s3")
	kv("repo1-path", a.Prefix)
	kv("repo1-s3-endpoint", host)
	kv("repo1-storage-port", port)
	kv("repo1-s3-bucket", a.Bucket)
	kv("repo1-s3-region", a.Region)
	kv("repo1-s3-uri-style", "path")
	kv("repo1-s3-key", a.Key)
	kv("repo1-s3-key-secret", a.Secret)
	if a.CA != "" {
		kv("repo1-storage-ca-file", ArchiveCAFile(a.App))
	}
	kv("repo1-cipher-type", "aes-256-cbc")
	kv("repo1-cipher-pass", a.CipherPass)
	kv("repo1-retention-full", strconv.Itoa(a.RetentionFull))
	kv("repo1-retention-diff", strconv.Itoa(a.RetentionDiff))
	// A bucket that doesn't answer fails archive-push, status and the
	// check within seconds (pgBackRest retries connections until then),
	// not minutes; an upload only needs some progress in that time.
	kv("io-timeout", "15")
	kv("start-fast", "y")
	kv("compress-type", "lz4")
	kv("process-max", "2")
	kv("log-level-console", "warn")
	kv("log-level-file", "info")
	return []byte(b.String())
}

// archiveUnit is a backup service (typ full or diff) and its timer.
func archiveUnit(a ArchiveArgs, typ, schedule string) (service, timer []byte) {
	onFailure := ""
	if a.OnFailure != "" {
		onFailure = "OnFailure=" + a.OnFailure + "\n"
	}
	service = fmt.Appendf(nil, `[Unit]
Description=%[1]s backup of %[2]s's PostgreSQL to its bucket (pgBackRest)
After=postgresql.service
%[3]s
[Service]
Type=oneshot
User=postgres
Group=postgres
ExecStart=/usr/bin/pgbackrest --stanza=%[2]s --type=%[1]s backup
Nice=10
IOSchedulingClass=idle
`, typ, a.App, onFailure)
	timer = fmt.Appendf(nil, `[Unit]
Description=%[1]s backup of %[2]s's PostgreSQL

[Timer]
OnCalendar=%[3]s
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
`, typ, a.App, schedule)
	return service, timer
}

func init() {
	Register("archive-setup", true, func(ctx context.Context, e *Env, a ArchiveArgs) error {
		return archiveSetup(ctx, e, osPrograms{e}, a)
	})
}

// archiveSetup installs pgBackRest when missing, writes the stanza's
// config, turns WAL archiving on (restarting PostgreSQL only when
// archive_mode was off), creates the stanza, checks that a WAL segment
// reaches the bucket, takes the first full backup when the repository has
// none, and installs the backup timers. It prints "changed:" lines and
// ends with "ok <n>", n the backups in the repository.
func archiveSetup(ctx context.Context, e *Env, progs programs, a ArchiveArgs) error {
	if err := a.check(); err != nil {
		return failed(e, "%v", err)
	}
	if !exists(e.Path(a.Marker)) {
		e.Result("ok", "theirs")
		return nil
	}
	if err := ensurePackage(ctx, e, progs, "pgbackrest"); err != nil {
		return err
	}
	pg, err := lookupAccount(e, "postgres")
	if err != nil || pg == nil {
		return failed(e, "no postgres account on this server: archiving needs the PostgreSQL provision installs")
	}
	live, err := readLiveCluster(ctx, progs)
	if err != nil {
		return failed(e, "PostgreSQL does not answer: %v", err)
	}
	cmd, err := psql(ctx, progs, nil, "-c", "SHOW archive_command")
	if err != nil {
		return err
	}
	mine := archiveCommand(a.App)
	if cmd != "" && cmd != "(disabled)" && cmd != mine {
		return failed(e, "PostgreSQL already archives with archive_command %q: one stanza per cluster; unset it (ALTER SYSTEM RESET archive_command) or give this app the other app's bucket settings", cmd)
	}
	if err := os.MkdirAll(e.Path(PgBackRestConfDir), 0o755); err != nil {
		return err
	}
	if a.CA != "" {
		if err := writeIfChanged(e, ArchiveCAFile(a.App), []byte(strings.TrimSpace(a.CA)+"\n"), 0, 0, 0o644); err != nil {
			return err
		}
	}
	if err := writeIfChanged(e, ArchiveConfFile(a.App), archiveConf(a, live), 0, pg.gid, 0o640); err != nil {
		return err
	}
	if err := archiveSettings(ctx, e, progs, a); err != nil {
		return err
	}
	pgb := func(args ...string) (string, error) {
		out, err := progs.run(ctx, program{argv: append([]string{"pgbackrest", "--stanza=" + a.App}, args...), user: "postgres", dir: "/"})
		if err != nil {
			return "", fmt.Errorf("pgbackrest %s: %s", strings.Join(args, " "), tail(out))
		}
		return string(out), nil
	}
	if _, err := pgb("stanza-create"); err != nil {
		return failed(e, "%v", err)
	}
	// check switches to a new WAL segment and waits until it is in the
	// bucket: archiving works end to end, or provision says why not.
	if _, err := pgb("check"); err != nil {
		return failed(e, "%v", err)
	}
	n, err := archiveBackups(ctx, progs, a.App)
	if err != nil {
		return failed(e, "%v", err)
	}
	if n == 0 {
		if _, err := pgb("--type=full", "backup"); err != nil {
			return failed(e, "first full backup: %v", err)
		}
		e.Line("changed:", "first full backup of "+a.App+"'s PostgreSQL in the bucket")
		n = 1
	}
	if err := archiveTimers(ctx, e, a); err != nil {
		return err
	}
	e.Result("ok", strconv.Itoa(n))
	return nil
}

// liveCluster is where the cluster provision manages keeps its data and
// listens.
type liveCluster struct{ dataDir, port, socketDir string }

func readLiveCluster(ctx context.Context, progs programs) (liveCluster, error) {
	out, err := psql(ctx, progs, nil, "-F", " ", "-c", "SELECT current_setting('data_directory'), current_setting('port'), split_part(current_setting('unix_socket_directories'), ',', 1)")
	f := strings.Fields(out)
	if err != nil {
		return liveCluster{}, err
	}
	if len(f) != 3 {
		return liveCluster{}, fmt.Errorf("unexpected answer %q", out)
	}
	return liveCluster{dataDir: f[0], port: f[1], socketDir: strings.TrimSpace(f[2])}, nil
}

// archiveCommand is PostgreSQL's archive_command for the app's stanza.
func archiveCommand(app string) string {
	return "pgbackrest --stanza=" + app + " archive-push %p"
}

// archiveSettings sets archive_mode, archive_command and archive_timeout
// (ALTER SYSTEM), restarting PostgreSQL when archive_mode changes (it can't
// change on a reload) and reloading otherwise.
func archiveSettings(ctx context.Context, e *Env, progs programs, a ArchiveArgs) error {
	mode, err := psql(ctx, progs, nil, "-c", "SHOW archive_mode")
	if err != nil {
		return err
	}
	timeout := strconv.Itoa(a.ArchiveTimeout)
	sql := "ALTER SYSTEM SET archive_mode = 'on';\n" +
		"ALTER SYSTEM SET archive_command = '" + archiveCommand(a.App) + "';\n" +
		"ALTER SYSTEM SET archive_timeout = '" + timeout + "s';\n"
	cmd, err := psql(ctx, progs, nil, "-c", "SHOW archive_command")
	if err != nil {
		return err
	}
	// In seconds, whatever unit it was set in.
	cur, err := psql(ctx, progs, nil, "-c", "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")
	if err != nil {
		return err
	}
	if mode == "on" && cmd == archiveCommand(a.App) && cur == timeout {
		return nil
	}
	if _, err := psql(ctx, progs, []byte(sql)); err != nil {
		return err
	}
	if mode != "on" {
		// Every cluster of the distribution's postgresql.service: the
		// one provision installed.
		if err := e.Sys.Restart(ctx, "postgresql.service"); err != nil {
			return fmt.Errorf("restart PostgreSQL for archive_mode: %w", err)
		}
		if err := waitPostgreSQL(ctx, progs); err != nil {
			return err
		}
		e.Line("changed:", "PostgreSQL archives its WAL with pgBackRest (archive_mode on: PostgreSQL restarted once)")
		return nil
	}
	if _, err := psql(ctx, progs, nil, "-c", "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	e.Line("changed:", "PostgreSQL's archive_command and archive_timeout ("+timeout+" s) set")
	return nil
}

// waitPostgreSQL waits up to 60 s until PostgreSQL answers.
func waitPostgreSQL(ctx context.Context, progs programs) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := psql(ctx, progs, nil, "-c", "SELECT 1"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("PostgreSQL does not answer after 60 s (pg_lsclusters; journalctl -u postgresql)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// archiveBackups counts the stanza's backups in the repository.
func archiveBackups(ctx context.Context, progs programs, app string) (int, error) {
	out, err := progs.run(ctx, program{argv: []string{"pgbackrest", "--stanza=" + app, "--output=json", "info"}, user: "postgres", dir: "/"})
	if err != nil {
		return 0, fmt.Errorf("pgbackrest info: %s", outputLine(out))
	}
	var info []struct {
		Backup []json.RawMessage `json:"backup"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("pgbackrest info: %w", err)
	}
	n := 0
	for _, s := range info {
		n += len(s.Backup)
	}
	return n, nil
}

// ArchiveCheckUnit is the unit that checks the archive every
// ArchiveCheckEvery and fails (alerting through OnFailure=) when WAL
// archiving fails or the newest good backup is older than
// BackupStaleAfter.
func ArchiveCheckUnit(app string) string { return app + "-archive-check" }

// ArchiveCheckEvery is the archive check's period (OnCalendar=).
const ArchiveCheckEvery = "*:0/15"

// BackupStaleAfter is the age past which the newest good backup alerts:
// twice the default daily schedule.
const BackupStaleAfter = 48 * time.Hour

// archiveCheckUnit is the check's service and timer: the helper that
// wrote it runs `archive-check <app>`.
func archiveCheckUnit(a ArchiveArgs, self string) (service, timer []byte) {
	return helperUnit(a, self, "archive-check", "Check that "+a.App+"'s PostgreSQL archives its WAL and backs up to its bucket", ArchiveCheckEvery)
}

// helperUnit is a oneshot service running the helper's unit command cmd
// for the app, alerting on failure, and its timer.
func helperUnit(a ArchiveArgs, self, cmd, desc, schedule string) (service, timer []byte) {
	onFailure := ""
	if a.OnFailure != "" {
		onFailure = "OnFailure=" + a.OnFailure + "\n"
	}
	service = fmt.Appendf(nil, `[Unit]
Description=%[4]s
After=postgresql.service
%[2]s
[Service]
Type=oneshot
ExecStart=%[3]s %[5]s %[1]s
`, a.App, onFailure, self, desc, cmd)
	timer = fmt.Appendf(nil, `[Unit]
Description=%[3]s (timer)

[Timer]
OnCalendar=%[2]s
Persistent=true

[Install]
WantedBy=timers.target
`, a.App, schedule, desc)
	return service, timer
}

func init() {
	unitCommands["archive-check"] = archiveCheck
}

// archiveCheck is <app>-archive-check.service's ExecStart: an error (the
// unit fails, its OnFailure= alerts) when the last WAL archive attempt
// failed, or the newest good backup is missing or older than
// BackupStaleAfter.
func archiveCheck(ctx context.Context, e *Env, args []string) error {
	if len(args) != 1 || !appNameRE.MatchString(args[0]) {
		return errors.New("usage: slipway-helper archive-check <app>")
	}
	progs := osPrograms{e}
	st, err := psql(ctx, progs, nil, "-F", " ", "-c", "SELECT (last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)), coalesce(last_failed_wal, '-') FROM pg_stat_archiver")
	if err != nil {
		return fmt.Errorf("pg_stat_archiver: %w", err)
	}
	if f := strings.Fields(st); len(f) == 2 && f[0] == "t" {
		return fmt.Errorf("WAL archiving is failing: segment %s is not in the bucket (journalctl -u postgresql)", f[1])
	}
	out, err := progs.run(ctx, program{argv: []string{"pgbackrest", "--stanza=" + args[0], "--output=json", "info"}, user: "postgres", dir: "/"})
	if err != nil {
		return fmt.Errorf("pgbackrest info: %s", outputLine(out))
	}
	var info []struct {
		Backup []struct {
			Timestamp struct {
				Stop int64 `json:"stop"`
			} `json:"timestamp"`
		} `json:"backup"`
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info) != 1 || len(info[0].Backup) == 0 {
		return errors.New("no good backup of the stanza in the bucket")
	}
	last := time.Unix(info[0].Backup[len(info[0].Backup)-1].Timestamp.Stop, 0)
	if age := e.Time().Sub(last); age > BackupStaleAfter {
		return fmt.Errorf("the newest good backup is %s old, over %s", age.Round(time.Minute), BackupStaleAfter)
	}
	return nil
}

// archiveTimers writes the backup services and timers (and the check's,
// when the helper knows its own path), and enables the timers.
func archiveTimers(ctx context.Context, e *Env, a ArchiveArgs) error {
	diff, full := ArchiveUnits(a.App)
	changed := false
	type unit struct{ name, typ, schedule string }
	units := []unit{{diff, "diff", a.DiffSchedule}, {full, "full", a.FullSchedule}}
	if path.IsAbs(e.Self) {
		units = append(units, unit{ArchiveCheckUnit(a.App), "check", ArchiveCheckEvery}, unit{ArchiveVerifyUnit(a.App), "verify", VerifySchedule})
	}
	for _, u := range units {
		svc, timer := archiveUnit(a, u.typ, u.schedule)
		switch u.typ {
		case "check":
			svc, timer = archiveCheckUnit(a, e.Self)
		case "verify":
			svc, timer = helperUnit(a, e.Self, "verify-archive", "Verify "+a.App+"'s backups in its bucket by restoring the newest", VerifySchedule)
		}
		for name, body := range map[string][]byte{u.name + ".service": svc, u.name + ".timer": timer} {
			old, _ := os.ReadFile(e.Path(path.Join(UnitDir, name)))
			if string(old) == string(body) {
				continue
			}
			if err := writeFileAs(e.Path(path.Join(UnitDir, name)), body, 0, 0, 0o644); err != nil {
				return err
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := e.Sys.DaemonReload(ctx); err != nil {
		return err
	}
	for _, u := range units {
		if err := e.Sys.Enable(ctx, u.name+".timer"); err != nil {
			return err
		}
		if err := e.Sys.Start(ctx, u.name+".timer", false); err != nil {
			return err
		}
	}
	e.Line("changed:", fmt.Sprintf("backup timers %s.timer (%s) and %s.timer (%s)", diff, a.DiffSchedule, full, a.FullSchedule))
	return nil
}

// writeIfChanged writes p (root-owned unless uid/gid say) when its content
// differs, printing a "changed:" line; it never prints the content.
func writeIfChanged(e *Env, p string, data []byte, uid, gid int, mode os.FileMode) error {
	old, err := os.ReadFile(e.Path(p))
	if err == nil && string(old) == string(data) {
		if st, err := os.Stat(e.Path(p)); err == nil && st.Mode().Perm() == mode {
			return nil
		}
	}
	if os.Geteuid() != 0 {
		uid, gid = os.Geteuid(), os.Getegid()
	}
	if err := writeFileAs(e.Path(p), data, uid, gid, mode); err != nil {
		return err
	}
	e.Line("changed:", p+" written")
	return nil
}

// ensurePackage installs a Debian package when missing, quietly.
func ensurePackage(ctx context.Context, e *Env, progs programs, pkg string) error {
	ok, _, err := dpkgInstalled(e, pkg)
	if err != nil || ok {
		return err
	}
	for _, argv := range [][]string{
		{"apt-get", "update", "-q"},
		{"apt-get", "install", "-y", "-q", "-o", "Dpkg::Options::=--force-confold", pkg},
	} {
		if out, err := progs.run(ctx, program{argv: argv, env: []string{"DEBIAN_FRONTEND=noninteractive"}}); err != nil {
			return failed(e, "%s: %s", strings.Join(argv, " "), outputLine(out))
		}
	}
	_, version, _ := dpkgInstalled(e, pkg)
	e.Line("changed:", "installed "+pkg+" "+version+" (apt-get install "+pkg+")")
	return nil
}

// outputLine is a program's output as one line: its last non-empty line, the
// one that says why.
func outputLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "(no output)"
}
