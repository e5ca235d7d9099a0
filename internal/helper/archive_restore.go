package helper

// Bringing one database back from the bucket. pgBackRest restores whole
// clusters, so the cluster is restored into a scratch folder beside the
// live one and started there on a unix socket of its own, replaying WAL
// to the target; the app's database is dumped out of it into backups/ as
// an ordinary dump, which today's restore (restore-prepare, restore-swap)
// then brings in while the live cluster, and every other database on it,
// keeps running.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ArchiveMaterializeArgs are archive-materialize's arguments.
type ArchiveMaterializeArgs struct {
	DBArgs
	// App names the stanza.
	App string `json:"app"`
	// ID names the dump written: backups/<ID>.dump and .meta.
	ID string `json:"id"`
	// Point is a restore point's name, or Time (RFC 3339) a moment, or
	// neither: the newest state the bucket holds.
	Point string `json:"point,omitempty"`
	Time  string `json:"time,omitempty"`
	// Release is recorded in the .meta (the release serving then).
	Release string `json:"release"`
}

func init() {
	Register("archive-materialize", true, func(ctx context.Context, e *Env, a ArchiveMaterializeArgs) error {
		if d := a.Detached; d != nil {
			a.Detached = nil
			return Detach(ctx, e, *d, "archive-materialize-run", a)
		}
		return archiveMaterialize(ctx, e, osPrograms{e}, a)
	})
	Register("archive-materialize-run", true, func(ctx context.Context, e *Env, a ArchiveMaterializeArgs) error {
		return archiveMaterialize(ctx, e, osPrograms{e}, a)
	})
}

// ScratchDir is where a stanza's cluster is restored for one database.
func ScratchDir(app string) string { return "/var/lib/postgresql/slipway-restore-" + app }

// archiveMaterialize restores the stanza into ScratchDir to the target,
// dumps the app's database from it into backups/<id>.dump (checked with
// pg_restore --list, .meta beside it, kind=archive) and removes the
// scratch cluster, whatever happened. Result: "ok id= size= schema=
// duration_ms=".
func archiveMaterialize(ctx context.Context, e *Env, progs programs, a ArchiveMaterializeArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	var target []string
	switch {
	case !appNameRE.MatchString(a.App):
		return fmt.Errorf("app name %q: want lower-case letters, digits and -", a.App)
	case !backupIDRE.MatchString(a.ID):
		return fmt.Errorf("id %q: want <UTC time>-<letters, digits, ->", a.ID)
	case a.Release != "" && !releaseIDRE.MatchString(a.Release):
		return fmt.Errorf("release %q: want a release id", a.Release)
	case a.Point != "" && a.Time != "":
		return errors.New("a restore point or a time, not both")
	case a.Point != "":
		if !releaseIDRE.MatchString(a.Point) {
			return fmt.Errorf("restore point %q: want a backup id (`go run mage.go backups`)", a.Point)
		}
		target = []string{"--type=name", "--target=" + a.Point}
	case a.Time != "":
		t, err := time.Parse(time.RFC3339, a.Time)
		if err != nil {
			return failed(e, "-time=%q: want an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", a.Time)
		}
		target = []string{"--type=time", "--target=" + t.UTC().Format("2006-01-02 15:04:05.000000") + "+00"}
	default:
		target = []string{"--type=default"}
	}
	if !exists(e.Path(ArchiveConfFile(a.App))) {
		return failed(e, "this server does not archive %s's database to a bucket (BACKUP_S3_BUCKET, then provision)", a.App)
	}
	_, db, err := a.vars(e)
	if err != nil {
		return err
	}
	dp := a.DeployPath
	uid, gid, err := ownerOf(e.Path(dp+"/releases"), e.Path(dp))
	if err != nil {
		return failed(e, "no %s: %v", dp, err)
	}
	bk := dp + "/backups"
	if err := ownedDir(e.Path(bk), uid, gid); err != nil {
		return failed(e, "cannot create %s: %v", bk, err)
	}
	pg, err := lookupAccount(e, "postgres")
	if err != nil || pg == nil {
		return failed(e, "no postgres account on this server")
	}
	t0 := time.Now()
	scratch := ScratchDir(a.App)
	sc := scratchCluster{dir: e.Path(scratch), progs: progs}
	sc.remove(ctx)
	defer sc.remove(context.WithoutCancel(ctx))
	if err := os.Mkdir(sc.dir, 0o700); err != nil {
		return failed(e, "create %s: %v", scratch, err)
	}
	if err := os.Chown(sc.dir, pg.uid, pg.gid); err != nil {
		return err
	}
	// archive-mode=off: the scratch cluster, promoted on a new timeline,
	// must never push its WAL into the live cluster's repository.
	argv := append([]string{"pgbackrest", "--stanza=" + a.App, "--pg1-path=" + scratch, "--archive-mode=off", "--target-action=promote"}, target...)
	if a.Time == "" && a.Point == "" {
		argv = []string{"pgbackrest", "--stanza=" + a.App, "--pg1-path=" + scratch, "--archive-mode=off", "--type=default"}
	}
	if out, err := progs.run(ctx, program{argv: append(argv, "restore"), user: "postgres", dir: "/"}); err != nil {
		return failed(e, "pgbackrest restore: %s", outputLine(out))
	}
	if err := sc.start(ctx, pg); err != nil {
		return failed(e, "%v", err)
	}
	su := []string{"PGHOST=" + scratch, "PGPORT=" + strconv.Itoa(scratchPort), "PGDATABASE=" + db}
	schema := int64(0)
	if out, err := psqlAs(ctx, pgSuperuser, su, "SELECT COALESCE(max(version_id), 0) FROM goose_db_version"); err == nil {
		fmt.Sscan(out, &schema)
	}
	tmp := e.Path(bk + "/." + a.ID + ".dump.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return failed(e, "cannot write %s: %v", bk, err)
	}
	_, err = runAs(ctx, pgSuperuser, su, nil, f, "pg_dump", "--format=custom")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return failed(e, "pg_dump of %s from the restored cluster failed: %v", db, err)
	}
	if out, err := exec.CommandContext(ctx, "pg_restore", "--list", tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return failed(e, "the dump of %s does not read back (pg_restore --list): %s", db, tail(out))
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return err
	}
	dur := time.Since(t0).Milliseconds()
	when := e.Time().UTC().Format("2006-01-02T15:04:05Z")
	from := "newest"
	if a.Point != "" {
		from = "point:" + a.Point
	} else if a.Time != "" {
		from = "time:" + a.Time
	}
	meta := fmt.Sprintf("when=%s\nsize=%d\nschema=%d\nrelease=%s\nkind=archive\nduration_ms=%d\ndatabase=%s\nfrom=%s\n", when, fi.Size(), schema, dash(a.Release), dur, db, from)
	metaTmp := e.Path(bk + "/." + a.ID + ".meta.tmp")
	err = os.WriteFile(metaTmp, []byte(meta), 0o600)
	for _, p := range []string{tmp, metaTmp} {
		if err == nil {
			err = os.Chown(p, uid, gid)
		}
	}
	if err == nil {
		err = os.Rename(metaTmp, e.Path(bk+"/"+a.ID+".meta"))
	}
	if err == nil {
		err = os.Rename(tmp, e.Path(bk+"/"+a.ID+".dump"))
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(metaTmp)
		return failed(e, "cannot write %s/%s.dump: %v", bk, a.ID, err)
	}
	e.Result("ok", fmt.Sprintf("id=%s size=%d schema=%d duration_ms=%d", a.ID, fi.Size(), schema, dur))
	return nil
}

// scratchPort is the scratch cluster's port: only its socket's name, in
// its own folder, so any number that is no other cluster's default.
const scratchPort = 5499

// scratchCluster is a restored cluster in dir, run on a unix socket in
// dir only (no TCP), trusting local connections: dir is 0700, postgres's.
type scratchCluster struct {
	dir   string
	progs programs
}

// bin is the restored cluster's pg_ctl, of its major version.
func (s scratchCluster) bin(prog string) string {
	v, _ := os.ReadFile(filepath.Join(s.dir, "PG_VERSION"))
	return filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin", prog)
}

// start writes the scratch cluster's own configuration (Debian keeps the
// live one in /etc/postgresql, so the restored folder has none), starts
// it, and waits until recovery reached its target and promoted.
func (s scratchCluster) start(ctx context.Context, pg *passwdEntry) error {
	conf := fmt.Sprintf("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\nshared_buffers = 64MB\narchive_mode = off\nhot_standby = on\n", s.dir, scratchPort)
	// Recovery refuses settings below the primary's: the live cluster's.
	for _, name := range []string{"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction"} {
		v, err := psql(ctx, s.progs, nil, "-c", "SELECT setting FROM pg_settings WHERE name = '"+name+"'")
		if err != nil {
			return err
		}
		conf += name + " = " + v + "\n"
	}
	for name, body := range map[string]string{"postgresql.conf": conf, "pg_hba.conf": "local all all trust\n", "pg_ident.conf": ""} {
		if err := writeFileAs(filepath.Join(s.dir, name), []byte(body), pg.uid, pg.gid, 0o600); err != nil {
			return err
		}
	}
	log := filepath.Join(s.dir, "startup.log")
	if out, err := s.progs.run(ctx, program{argv: []string{s.bin("pg_ctl"), "-D", s.dir, "-l", log, "-w", "-t", "3600", "start"}, user: "postgres", dir: "/"}); err != nil {
		l, _ := os.ReadFile(log)
		return fmt.Errorf("the restored cluster did not start: %s %s", outputLine(out), why(l))
	}
	for {
		out, err := s.progs.run(ctx, program{argv: []string{"psql", "-X", "-Atq", "-h", s.dir, "-p", strconv.Itoa(scratchPort), "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"}, user: "postgres", dir: "/"})
		if err == nil && strings.TrimSpace(string(out)) == "f" {
			return nil
		}
		if _, err := s.progs.run(ctx, program{argv: []string{s.bin("pg_ctl"), "-D", s.dir, "status"}, user: "postgres", dir: "/"}); err != nil {
			l, _ := os.ReadFile(log)
			return fmt.Errorf("the restored cluster stopped during recovery: %s", why(l))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// remove stops the scratch cluster if it runs and deletes its folder.
func (s scratchCluster) remove(ctx context.Context) {
	if exists(filepath.Join(s.dir, "postmaster.pid")) {
		_, _ = s.progs.run(ctx, program{argv: []string{s.bin("pg_ctl"), "-D", s.dir, "-m", "immediate", "-w", "stop"}, user: "postgres", dir: "/"})
	}
	_ = os.RemoveAll(s.dir)
}

// why is the server log's first FATAL or ERROR line (PostgreSQL's or
// restore_command's), else its last lines.
func why(log []byte) string {
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "FATAL") || strings.Contains(l, "ERROR") {
			return strings.TrimSpace(l)
		}
	}
	return tail(log)
}
