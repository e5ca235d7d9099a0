package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/service"
)

// backupFromEnv reads DEPLOY_BACKUP and DEPLOY_KEEP_BACKUPS into o.
func backupFromEnv(getenv func(string) string, o *Options) []error {
	var errs []error
	switch v := strings.ToLower(getenv("DEPLOY_BACKUP")); v {
	case "", "on":
	case "off":
		o.NoBackup = true
	default:
		errs = append(errs, fmt.Errorf("DEPLOY_BACKUP=%q: use on (the default) or off", v))
	}
	if v := getenv("DEPLOY_KEEP_BACKUPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("DEPLOY_KEEP_BACKUPS=%q: use a number of backups, at least 1", v))
		}
		o.KeepBackups = n
	}
	return errs
}

func (o Options) keepBackups() int {
	if o.KeepBackups < 1 {
		return backup.DefaultKeep
	}
	return o.KeepBackups
}

func (s *Server) backups() backup.Server {
	return backup.Server{Alias: s.Alias, R: s.c, C: s.svc}
}

// backupBeforeMigrations takes a backup when rel has migrations pending
// against the server's database, while the live release keeps serving. An
// error refuses the deploy: nothing was stopped yet. It returns the fields
// the deploy's deploy.log line gets (" backup=..." or "").
func (s *Server) backupBeforeMigrations(ctx context.Context, o Options, st State, rel Release) (string, error) {
	if o.NoBackup {
		return s.backupIfPending(ctx, o, st, rel, pending{}, "deployed")
	}
	return s.backupIfPending(ctx, o, st, rel, s.pendingMigrations(ctx, rel), "deployed")
}

// pending is what a release's binary answered about its migrations, and
// how long the question took.
type pending struct {
	backup.Migrations
	took time.Duration
	err  error
}

// pendingMigrations asks rel's binary which of its migrations the server's
// database lacks.
func (s *Server) pendingMigrations(ctx context.Context, rel Release) pending {
	asked := time.Now()
	m, err := s.backups().Migrations(ctx, rel.ID)
	return pending{Migrations: m, took: since(asked), err: err}
}

// backupIfPending is the one path every switch to a release takes before
// it starts: a backup when p says it has migrations pending (or couldn't
// say), none when it has none or DEPLOY_BACKUP=off. undone ("deployed",
// "rolled back") is what a failed backup leaves undone.
func (s *Server) backupIfPending(ctx context.Context, o Options, st State, rel Release, p pending, undone string) (string, error) {
	if o.NoBackup {
		o.printf("DEPLOY_BACKUP=off: no backup before release %s, whatever its migrations do", rel.ID)
		return " backup=off", nil
	}
	switch {
	case p.err != nil:
		o.printf("warning: %v; backing up in case it has migrations", p.err)
	case p.Pending == 0:
		o.printf("no migrations pending (database at version %d, asked in %s): no backup", p.Applied, p.took)
		return "", nil
	default:
		o.printf("release %s has %d migration(s) pending (database at version %d, release at %d): backing up first", rel.ID, p.Pending, p.Applied, p.Latest)
	}
	b := s.backups()
	list, err := b.List(ctx)
	if err != nil {
		return "", err
	}
	o.step("backup")
	id := backup.FreeID(list, rel.ID)
	// A restore point when the cluster archives to a bucket: instant,
	// whatever the database's size. Else, or when the archive can't be
	// trusted, the dump.
	point, off, why, err := b.Point(ctx, id, id, st.Current)
	switch {
	case err != nil:
		o.printf("no restore point (%v): dumping instead", err)
	case why != "":
		o.printf("no restore point (%s): dumping instead", why)
	case !off:
		o.printf("restore point %s: WAL segment %s archived to the bucket, schema version %d, in %s", point.ID, point.WAL, point.Schema, point.Duration)
		return " " + point.LogFields(), nil
	}
	info, err := b.Take(ctx, id, st.Current, backup.KindDeploy, o.keepBackups())
	if err != nil {
		return "", fmt.Errorf("%w: not %s, nothing was stopped (DEPLOY_BACKUP=off switches without a backup)", err, undone)
	}
	o.printf("backup %s: %.1f MiB, schema version %d, in %s (%s)", info.ID, mib(info.Size), info.Schema, info.Duration, b.Path(info.ID))
	return " " + info.LogFields(), nil
}

// backupStep is the dry run's line for the backup before migrations.
func backupStep(o Options, dp, id string) string {
	if o.NoBackup {
		return "DEPLOY_BACKUP=off: no backup before the release's migrations"
	}
	return fmt.Sprintf("ask releases/%s/app (migrate status) for pending migrations; if any: a restore point in the bucket's archive when the server archives to one and it is healthy, else pg_dump the database to %s/backups/%s.dump, checked, keep %d", id, dp, id, o.keepBackups())
}

// Backup takes a backup now, under the deploy lock, on the first host:
// several hosts share one database (checked first), which restore brings
// back from the first host's backups.
func Backup(ctx context.Context, o Options) ([]backup.Info, error) {
	o = o.withDefaults()
	if err := sameDatabase(ctx, o, nil); err != nil {
		return nil, err
	}
	if len(o.Hosts) > 1 {
		o.printf("%s share one database: backing it up once, on %s", strings.Join(o.Hosts, ", "), o.Hosts[0])
	}
	var out []backup.Info
	for _, host := range o.Hosts[:1] {
		info, err := withLocked(ctx, o, host, "backing up", func(s *Server, st State) (backup.Info, error) {
			return s.backups().Take(ctx, backup.NewID(time.Now(), backup.KindManual), st.Current, backup.KindManual, o.keepBackups())
		})
		if err != nil {
			return out, err
		}
		o.printf("%s: backup %s, %.1f MiB, schema version %d, in %s", host, info.ID, mib(info.Size), info.Schema, info.Duration)
		out = append(out, info)
	}
	return out, nil
}

// Backups lists each host's backups, newest first.
func Backups(ctx context.Context, o Options) (map[string][]backup.Info, error) {
	o = o.withDefaults()
	all := map[string][]backup.Info{}
	for _, host := range o.Hosts {
		s, err := connect(ctx, o, host)
		if err != nil {
			return all, err
		}
		list, err := s.backups().List(ctx)
		s.Close()
		if err != nil {
			return all, err
		}
		all[host] = list
	}
	return all, nil
}

// withLocked runs fn on host under the deploy lock, with the layout read
// under it.
func withLocked[T any](ctx context.Context, o Options, host, what string, fn func(*Server, State) (T, error)) (T, error) {
	var zero T
	s, err := connect(ctx, o, host)
	if err != nil {
		return zero, err
	}
	defer s.Close()
	lk, err := s.acquireLock(ctx, o.Who, what, o.LockWait, func(m string) { o.printf("%s", m) })
	if err != nil {
		return zero, err
	}
	defer lk.release(context.WithoutCancel(ctx))
	st, err := s.inspect(ctx)
	if err != nil {
		return zero, err
	}
	return fn(s, st)
}

// RestoreOptions says which backup to restore and how to confirm.
type RestoreOptions struct {
	Backup string
	// Time (RFC 3339), instead of Backup: the database as it was then,
	// replayed from the bucket's archive (restore -time=).
	Time string
	// Confirm is asked once everything is known and before anything
	// changes; false cancels. nil confirms (-yes).
	Confirm func(question string) (bool, error)
}

// ErrCancelled is a restore the user said no to.
var ErrCancelled = errors.New("restore cancelled: nothing changed")

// RestoreResult is what a restore did.
type RestoreResult struct {
	Backup, PreRestore, Release string
	// Prepared is how long the restore into the fresh database and its
	// check took; Downtime the swap's, from the instances' stop to ready.
	Prepared, Downtime time.Duration
	// Releases is the release each host runs after the restore, by alias
	// (the first host's is Release).
	Releases map[string]string
}

// other is a host of a restore beside the first: connected, locked, and
// the release it switches to once the database is restored.
type other struct {
	s      *Server
	lk     *lock
	st     State
	target Release
}

// Restore brings the database back to a backup of the first host: a
// backup of the database as it is now first (a restore is undoable too),
// the restore into a fresh database beside the live one, then the swap,
// with the release whose migrations match the backup's schema version made
// live. Until the swap nothing the app sees changes, whatever happens to
// this client; the swap runs to its end on the server once begun.
//
// The restore runs on the first host, where the database's local
// superuser is (it renames databases): with several hosts, that one
// holds PostgreSQL. The others, checked to reach the same database, locked
// and given their matching release (the same binary as the first's when
// they hold it) before anything changes, switch to it once the swap is
// done, one at a time, the deploy's way.
func Restore(ctx context.Context, o Options, r RestoreOptions) (RestoreResult, error) {
	o = o.withDefaults()
	host := o.Hosts[0]
	if err := sameDatabase(ctx, o, nil); err != nil {
		return RestoreResult{}, fmt.Errorf("%w; not restored, nothing changed", err)
	}
	var others []*other
	defer func() {
		for _, h := range others {
			if h.lk != nil {
				h.lk.release(context.WithoutCancel(ctx))
			}
			h.s.Close()
		}
	}()
	return withLocked(ctx, o, host, "restoring "+r.Backup, func(s *Server, st State) (RestoreResult, error) {
		res := RestoreResult{Backup: r.Backup, Releases: map[string]string{}}
		// The others locked after the first, in DEPLOY_HOST order as env:set
		// does: two commands waiting for each other's locks can't cross.
		for _, h := range o.Hosts[1:] {
			s, err := connect(ctx, o, h)
			if err != nil {
				return res, err
			}
			oh := &other{s: s}
			others = append(others, oh)
			if oh.lk, err = s.acquireLock(ctx, o.Who, "restoring "+r.Backup+" (on "+host+")", o.LockWait, func(m string) { o.printf("%s", m) }); err != nil {
				return res, fmt.Errorf("%w; not restored, nothing changed", err)
			}
			if oh.st, err = s.inspect(ctx); err != nil {
				return res, err
			}
		}
		bs := s.backups()
		list, err := bs.List(ctx)
		if err != nil {
			return res, err
		}
		var b backup.Info
		if r.Time == "" {
			if b, err = backup.Find(list, r.Backup, host); err != nil {
				return res, err
			}
		}
		// A restore point or a time: the bucket's cluster restored in a
		// scratch folder, the app's database dumped out of it; from there
		// on, today's restore of a dump.
		if r.Time != "" || b.Kind == backup.KindPoint {
			id, point := backup.FreeID(list, backup.NewID(time.Now(), "pitr")), ""
			if r.Time == "" {
				id, point = backup.FreeID(list, b.ID+"-wal"), b.ID
			}
			o.printf("restoring the bucket's archive to %s in a scratch cluster on %s (the live one keeps running)", orDash(point+r.Time), host)
			if b, err = bs.Materialize(ctx, id, point, r.Time, st.Current); err != nil {
				return res, fmt.Errorf("%w; not restored, nothing changed", err)
			}
			res.Backup = b.ID
			o.printf("dumped %s out of it as backup %s (%.1f MiB, schema version %d) in %s", orDash(point+r.Time), b.ID, mib(b.Size), b.Schema, b.Duration)
		}
		target, err := s.releaseForSchema(ctx, st, b.Schema)
		if err != nil {
			return res, err
		}
		if err := s.verifyBinary(ctx, target.ID, target.SHA256); err != nil {
			return res, fmt.Errorf("%w; not restored, nothing changed", err)
		}
		res.Release = target.ID
		switchTo := "keeps release " + target.ID
		if target.ID != st.Current {
			switchTo = fmt.Sprintf("switches from release %s to %s (%s), whose migrations end at version %d", orNone(st.Current), target.ID, target.Version, b.Schema)
		}
		for _, oh := range others {
			if oh.target, err = oh.s.matchingRelease(ctx, oh.st, target, b.Schema); err != nil {
				return res, fmt.Errorf("%w; not restored, nothing changed", err)
			}
			if oh.target.ID == oh.st.Current {
				switchTo += fmt.Sprintf("; %s keeps release %s", oh.s.Alias, oh.target.ID)
			} else {
				switchTo += fmt.Sprintf("; %s switches from release %s to %s", oh.s.Alias, orNone(oh.st.Current), oh.target.ID)
			}
		}
		q := fmt.Sprintf("Restore the database on %s to backup %s (taken %s, schema version %d)? This replaces its data now, and %s.",
			host, b.ID, b.When.Format(time.RFC3339), b.Schema, switchTo)
		if r.Confirm != nil {
			ok, err := r.Confirm(q)
			if err != nil {
				return res, err
			}
			if !ok {
				return res, ErrCancelled
			}
		}
		o.step("confirmed")
		pre, err := bs.Take(ctx, backup.NewID(time.Now(), backup.KindPreRestore), st.Current, backup.KindPreRestore, len(list)+1)
		if err != nil {
			return res, fmt.Errorf("%w: not restored, nothing changed", err)
		}
		res.PreRestore = pre.ID
		o.printf("backed up the database as it is now: %s (%.1f MiB, schema %d); `restore -backup=%s` undoes this restore", pre.ID, mib(pre.Size), pre.Schema, pre.ID)
		o.step("preparing")
		prep, err := bs.Prepare(ctx, b)
		if err != nil {
			return res, err
		}
		d := prep.Duration
		res.Prepared = d
		o.printf("restored %s into a fresh database and checked it (schema version %d) in %s; the live database is untouched so far", b.ID, b.Schema, d)
		o.step("swapping")
		prefix := fmt.Sprintf("%s restore host=%s by=%s backup=%s schema=%d pre_restore=%s from=%s",
			time.Now().UTC().Format(time.RFC3339), host, o.Who, b.ID, b.Schema, pre.ID, orDash(st.Current))
		sw, err := bs.Swap(ctx, prep, target.ID, prefix)
		for _, step := range sw.Steps {
			o.printf("  %s", step)
		}
		if err != nil {
			return res, err
		}
		res.Downtime = sw.Downtime
		res.Releases[host] = target.ID
		o.printf("%s serves backup %s with release %s: the app was down %s during the swap (connections waited on the socket)", host, b.ID, target.ID, sw.Downtime)
		for i, oh := range others {
			if err := oh.s.followRestore(ctx, o, oh, b, host); err != nil {
				untried := ""
				for _, n := range others[i+1:] {
					untried += ", " + n.s.Alias + " not tried"
				}
				return res, fmt.Errorf("restore failed on %s: the database is restored (on %s), but %s did not switch to release %s, whose migrations match it%s; `DEPLOY_HOST=%s go run mage.go rollback -release=%s` brings it there\n%w",
					oh.s.Alias, host, oh.s.Alias, oh.target.ID, untried, oh.s.Alias, oh.target.ID, err)
			}
			res.Releases[oh.s.Alias] = oh.target.ID
		}
		return res, nil
	})
}

// matchingRelease is the release a host beside the first switches to when
// the database goes back to schema version: the one holding the first
// host's target binary, else the newest whose migrations end there.
func (s *Server) matchingRelease(ctx context.Context, st State, first Release, version int64) (Release, error) {
	r, ok := st.BySHA(first.SHA256)
	if !ok {
		var err error
		if r, err = s.releaseForSchema(ctx, st, version); err != nil {
			return r, err
		}
	}
	if err := s.verifyBinary(ctx, r.ID, r.SHA256); err != nil {
		return r, err
	}
	return r, nil
}

// followRestore switches a host beside the first to its matching release
// once the database is restored, the deploy's way (its old release kept
// serving until the new one is ready), or leaves it when it runs it.
func (s *Server) followRestore(ctx context.Context, o Options, oh *other, b backup.Info, dbHost string) error {
	rel := oh.target
	if rel.ID == oh.st.Current {
		live, err := service.InstanceLive(ctx, s.c, s.svc, rel.ID, rel.Version.Commit)
		if err != nil {
			return err
		}
		if live {
			o.printf("%s already runs release %s, whose migrations match backup %s: nothing to do", s.Alias, rel.ID, b.ID)
			return nil
		}
	}
	o.printf("%s: starting release %s (%s) beside the live one, on the restored database", s.Alias, rel.ID, rel.Version)
	prefix := s.logPrefix("restore", o.Who, rel, rel.SHA256) + fmt.Sprintf(" backup=%s schema=%d db_host=%s from=%s", b.ID, b.Schema, dbHost, orDash(oh.st.Current))
	if _, err := s.handover(ctx, o, rel, prefix); err != nil {
		return err
	}
	o.printf("%s serves %s (release %s)", s.Alias, rel.Version, rel.ID)
	return nil
}

// releaseForSchema is the release whose migrations end at version: the
// current one if it does, else the newest on disk that does.
func (s *Server) releaseForSchema(ctx context.Context, st State, version int64) (Release, error) {
	order := []Release{}
	if r, ok := st.Release(st.Current); ok {
		order = append(order, r)
	}
	for i := len(st.Releases) - 1; i >= 0; i-- {
		if st.Releases[i].ID != st.Current {
			order = append(order, st.Releases[i])
		}
	}
	var seen []string
	for _, r := range order {
		m, err := s.backups().Migrations(ctx, r.ID)
		if err != nil {
			seen = append(seen, r.ID+" (unknown)")
			continue
		}
		if m.Latest == version {
			return r, nil
		}
		seen = append(seen, fmt.Sprintf("%s (%d)", r.ID, m.Latest))
	}
	return Release{}, fmt.Errorf("%s has no release whose migrations end at version %d, the backup's: releases (their last migration) %s; deploy a build of that version first, then restore",
		s.Alias, version, strings.Join(seen, ", "))
}

// FetchBackup copies a backup of the first host to dst: the one named id,
// the newest ("" id), or, with fresh, one taken now. It returns its id.
func FetchBackup(ctx context.Context, o Options, id string, fresh bool, dst string) (string, error) {
	o = o.withDefaults()
	host := o.Hosts[0]
	if fresh {
		got, err := Backup(ctx, Options{Hosts: []string{host}, SSHConfig: o.SSHConfig, Service: o.Service, Getenv: o.Getenv,
			Stdout: o.Stdout, Log: o.Log, Who: o.Who, LockWait: o.LockWait, KeepBackups: o.KeepBackups})
		if err != nil {
			return "", err
		}
		id = got[0].ID
	}
	s, err := connect(ctx, o, host)
	if err != nil {
		return "", err
	}
	defer s.Close()
	list, err := s.backups().List(ctx)
	if err != nil {
		return "", err
	}
	if id == "" {
		if len(list) == 0 {
			return "", fmt.Errorf("%s has no backups yet: pass -fresh to take one now", host)
		}
		id = list[0].ID
	}
	b, err := backup.Find(list, id, host)
	if err != nil {
		return "", err
	}
	o.printf("fetching backup %s (%.1f MiB, schema version %d) from %s", b.ID, mib(b.Size), b.Schema, host)
	return b.ID, s.backups().Fetch(ctx, s.c, b, dst)
}

// VerifyBackups verifies each host's bucket (backup.Server.Verify) and
// prints one line per host; the first failure stops.
func VerifyBackups(ctx context.Context, o Options) error {
	o = o.withDefaults()
	for _, host := range o.Hosts {
		s, err := connect(ctx, o, host)
		if err != nil {
			return err
		}
		start := time.Now()
		sum, err := s.backups().Verify(ctx)
		s.Close()
		if err != nil {
			return err
		}
		o.printf("%s: the bucket verified (pgbackrest verify, the newest state restored in a scratch cluster with the sentinel row): %s, in %s", host, sum, since(start))
	}
	return nil
}
