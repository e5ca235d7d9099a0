package helper

// Backups: pg_dump --format=custom files under <deploy path>/backups, each
// beside a .meta of key=value lines, listed newest first. The formats are
// those of the shell scripts this replaces (Slipway v0.2.0), so a server's
// existing backups keep working, and the client's parsers with them.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DBArgs say where a step finds the app's database: the env file the app
// reads and the URL variable in it, and the service user its clients run
// as.
type DBArgs struct {
	// DeployPath is the app's folder (releases/, backups/, deploy.log).
	DeployPath string `json:"deploy_path"`
	// EnvFile is the app's env file.
	EnvFile string `json:"env_file"`
	// URLVar is the variable holding the database URL (DATABASE_URL).
	URLVar string `json:"url_var"`
	// User is the service user pg_dump, pg_restore and psql run as.
	User string `json:"user"`
	// Detached, when set, runs the step in that transient unit (Detach):
	// a client killed meanwhile leaves it running to its end.
	Detached *Detached `json:"detached,omitempty"`
}

// BackupTakeArgs are backup-take's arguments.
type BackupTakeArgs struct {
	DBArgs
	// ID names the backup: backups/<ID>.dump and .meta.
	ID string `json:"id"`
	// Release is the release serving ("" none), Kind deploy, manual or
	// pre-restore.
	Release string `json:"release"`
	Kind    string `json:"kind"`
	// Keep is how many dumps stay, the newest.
	Keep int `json:"keep"`
	// Host is the server's alias, for the deploy.log line.
	Host string `json:"host"`
}

// BackupListArgs are backup-list's arguments.
type BackupListArgs struct {
	DeployPath string `json:"deploy_path"`
}

func init() {
	Register("backup-take", true, func(ctx context.Context, e *Env, a BackupTakeArgs) error {
		if d := a.Detached; d != nil {
			a.Detached = nil
			return Detach(ctx, e, *d, "backup-take-run", a)
		}
		return backupTake(ctx, e, a)
	})
	Register("backup-take-run", true, backupTake)
	Register("backup-list", false, backupList)
}

var (
	backupIDRE  = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,60}$`)
	userRE      = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	releaseIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)
	hostRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,200}$`)
)

// check refuses arguments a step can't use safely, naming the fix.
func (a DBArgs) check() error {
	if !absClean(a.DeployPath) {
		return fmt.Errorf("deploy path %q: want an absolute, clean path (DEPLOY_PATH)", a.DeployPath)
	}
	if !absClean(a.EnvFile) {
		return fmt.Errorf("env file %q: want an absolute, clean path", a.EnvFile)
	}
	if !urlVarRE.MatchString(a.URLVar) {
		return fmt.Errorf("database URL variable %q: want letters, digits and _ (DATABASE_URL)", a.URLVar)
	}
	if !userRE.MatchString(a.User) {
		return fmt.Errorf("service user %q: want a user name of lower-case letters, digits, _ and - (APP_USER)", a.User)
	}
	return nil
}

func absClean(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.ContainsAny(p, "\x00\n")
}

// vars is the database's libpq environment for the clients, and its name.
func (a DBArgs) vars(e *Env) ([]string, string, error) {
	vars, err := DatabaseEnv(e, a.EnvFile, a.URLVar)
	if err != nil {
		return nil, "", err
	}
	db, err := appDatabase(vars, a.URLVar, a.EnvFile)
	if err != nil {
		return nil, "", err
	}
	return withVar(vars, "PGAPPNAME", "slipway-backup"), db, nil
}

// failed prints the step's failure line and returns ErrFailed.
func failed(e *Env, format string, args ...any) error {
	e.Result("failed", fmt.Sprintf(format, args...))
	return ErrFailed
}

// backupTake dumps the app's database into backups/<id>.dump: pg_dump
// --format=custom as the service user into a file root writes, read back
// with pg_restore --list, then 0600 and owned like the releases (the SSH
// user: scp can fetch it; the service user can't read it), beside a .meta.
// Refused, with nothing written: no pg_dump, a pg_dump older than the
// server, less free space than twice the last backup. Prunes to the newest
// Keep dumps and, unless a deploy's (its line says it), appends a line to
// deploy.log.
func backupTake(ctx context.Context, e *Env, a BackupTakeArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	switch {
	case !backupIDRE.MatchString(a.ID):
		return fmt.Errorf("backup id %q: want <UTC time>-<letters, digits, ->", a.ID)
	case a.Release != "" && !releaseIDRE.MatchString(a.Release):
		return fmt.Errorf("release %q: want a release id", a.Release)
	case a.Kind != "deploy" && a.Kind != "manual" && a.Kind != "pre-restore":
		return fmt.Errorf("backup kind %q: want deploy, manual or pre-restore", a.Kind)
	case a.Keep < 1:
		return fmt.Errorf("keep %d: keep at least 1 backup (DEPLOY_KEEP_BACKUPS)", a.Keep)
	case !hostRE.MatchString(a.Host):
		return fmt.Errorf("host %q: want an ssh alias", a.Host)
	}
	if _, err := exec.LookPath("pg_dump"); err != nil {
		return failed(e, "the server has no pg_dump: apt-get install postgresql-client")
	}
	vars, db, err := a.vars(e)
	if err != nil {
		return err
	}
	sv, err := psqlAs(ctx, a.User, vars, "SHOW server_version_num")
	if err != nil {
		user := dbVar(vars, "PGUSER")
		if user == "" {
			user = a.User
		}
		return failed(e, "cannot connect to database %s as %s: %v", db, user, err)
	}
	if msg := versionCheck(ctx, sv); msg != "" {
		return failed(e, "%s", msg)
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
	dumps, err := dumpsNewestFirst(e.Path(bk))
	if err != nil {
		return failed(e, "read %s: %v", bk, err)
	}
	if len(dumps) > 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(e.Path(bk), &st); err == nil {
			free := int64(st.Bavail) * int64(st.Bsize)
			last := dumps[0]
			if free < 2*last.size {
				return failed(e, "only %d MiB free on the disk of %s, below twice the last backup (%s.dump, %d MiB): free space or remove old backups there, or set DEPLOY_BACKUP=off",
					free>>20, bk, last.id, last.size>>20)
			}
		}
	}
	schema := schemaOf(ctx, a.User, vars, db)
	tmp := e.Path(bk + "/." + a.ID + ".dump.tmp")
	t0 := time.Now()
	if err := dump(ctx, a.User, vars, tmp); err != nil {
		os.Remove(tmp)
		return failed(e, "pg_dump of %s failed: %v", db, err)
	}
	if out, err := exec.CommandContext(ctx, "pg_restore", "--list", tmp).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return failed(e, "the dump of %s does not read back (pg_restore --list): %s", db, tail(out))
	}
	dur := time.Since(t0).Milliseconds()
	fi, err := os.Stat(tmp)
	if err != nil {
		return failed(e, "cannot write %s/%s.dump: %v", bk, a.ID, err)
	}
	size := fi.Size()
	when := e.Time().UTC().Format("2006-01-02T15:04:05Z")
	meta := fmt.Sprintf("when=%s\nsize=%d\nschema=%d\nrelease=%s\nkind=%s\nduration_ms=%d\ndatabase=%s\n", when, size, schema, dash(a.Release), a.Kind, dur, db)
	metaTmp := e.Path(bk + "/." + a.ID + ".meta.tmp")
	err = os.WriteFile(metaTmp, []byte(meta), 0o600)
	for _, f := range []string{tmp, metaTmp} {
		if err == nil {
			err = os.Chown(f, uid, gid)
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
	pruned := prune(e.Path(bk), a.Keep)
	// A deploy's backup goes on the deploy's own line (Info.LogFields).
	if a.Kind != "deploy" {
		line := fmt.Sprintf("%s backup host=%s id=%s kind=%s release=%s database=%s schema=%d size=%d duration=%dms\n",
			when, a.Host, a.ID, a.Kind, dash(a.Release), db, schema, size, dur)
		logf := e.Path(dp + "/deploy.log")
		if err := appendFile(logf, line); err != nil {
			e.Line("log", "deploy.log: "+err.Error())
		}
		_ = os.Chown(logf, uid, gid)
	}
	e.Result("ok", fmt.Sprintf("id=%s size=%d schema=%d duration_ms=%d pruned=%s", a.ID, size, schema, dur, dash(strings.Join(pruned, ","))))
	return nil
}

// versionCheck refuses a pg_dump older than the server (version sv, as
// server_version_num): it can't dump it.
func versionCheck(ctx context.Context, sv string) string {
	n, err := strconv.Atoi(sv)
	if err != nil {
		return fmt.Sprintf("the database server reports version %q, not a number", sv)
	}
	smaj := n / 10000
	out, err := exec.CommandContext(ctx, "pg_dump", "--version").Output()
	f := strings.Fields(string(out))
	dmaj := -1
	if err == nil && len(f) >= 3 {
		maj, _, _ := strings.Cut(f[2], ".")
		if v, err := strconv.Atoi(maj); err == nil {
			dmaj = v
		}
	}
	if dmaj < smaj {
		return fmt.Sprintf("pg_dump on the server is version %d but the database server runs %d: install postgresql-client-%d (pg_dump must be at least the server's major version)", dmaj, smaj, smaj)
	}
	return ""
}

// dump runs pg_dump as the service user into file, created by root 0600:
// the service user never gets to open it.
func dump(ctx context.Context, svcUser string, vars []string, file string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = runAs(ctx, svcUser, vars, nil, f, "pg_dump", "--format=custom", "--no-password")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ownerOf is the uid and gid of the first of paths that exists.
func ownerOf(paths ...string) (int, int, error) {
	var err error
	for _, p := range paths {
		var fi os.FileInfo
		if fi, err = os.Stat(p); err == nil {
			st := fi.Sys().(*syscall.Stat_t)
			return int(st.Uid), int(st.Gid), nil
		}
	}
	return 0, 0, err
}

// ownedDir makes dir (0700) owned by uid:gid, as install -d did.
func ownedDir(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// dumpFile is one backups/<id>.dump.
type dumpFile struct {
	id   string
	size int64
	mod  time.Time
}

// dumpsNewestFirst lists dir's *.dump files, newest first (as ls -t); a
// missing dir has none.
func dumpsNewestFirst(dir string) ([]dumpFile, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []dumpFile
	for _, de := range ents {
		id, ok := strings.CutSuffix(de.Name(), ".dump")
		if !ok || strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		list = append(list, dumpFile{id: id, size: fi.Size(), mod: fi.ModTime()})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].mod.Equal(list[j].mod) {
			return list[i].mod.After(list[j].mod)
		}
		return list[i].id > list[j].id
	})
	return list, nil
}

// prune removes all but the newest keep dumps of dir and their .meta, and
// returns the ids removed.
func prune(dir string, keep int) []string {
	list, _ := dumpsNewestFirst(dir)
	var gone []string
	for i := keep; i < len(list); i++ {
		id := list[i].id
		if os.Remove(filepath.Join(dir, id+".dump")) == nil {
			os.Remove(filepath.Join(dir, id+".meta"))
			gone = append(gone, id)
		}
	}
	return gone
}

func appendFile(name, line string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// backupList prints one "backup <id> file_size=<bytes> <.meta k=v ...>"
// line per dump and per restore point (its .point record, file_size=0),
// newest first. It runs as the SSH user, who owns the
// backups.
func backupList(_ context.Context, e *Env, a BackupListArgs) error {
	if !absClean(a.DeployPath) {
		return fmt.Errorf("deploy path %q: want an absolute, clean path (DEPLOY_PATH)", a.DeployPath)
	}
	bk := e.Path(a.DeployPath + "/backups")
	list, err := dumpsNewestFirst(bk)
	if err != nil {
		return fmt.Errorf("list %s/backups: %w", a.DeployPath, err)
	}
	// The restore points (archive-point) among the dumps, by time.
	points := pointsNewestFirst(bk)
	n := len(list) + len(points)
	for len(list) > 0 || len(points) > 0 {
		if len(points) > 0 && (len(list) == 0 || points[0].mod.After(list[0].mod)) {
			e.Line("backup", strings.TrimSpace(fmt.Sprintf("%s file_size=0 %s", points[0].id, pointFields(bk, points[0].id))))
			points = points[1:]
			continue
		}
		d := list[0]
		list = list[1:]
		meta, _ := os.ReadFile(filepath.Join(bk, d.id+".meta"))
		fields := strings.Join(strings.Fields(string(meta)), " ")
		e.Line("backup", strings.TrimSpace(fmt.Sprintf("%s file_size=%d %s", d.id, d.size, fields)))
	}
	e.Result("ok", fmt.Sprintf("count=%d", n))
	return nil
}
