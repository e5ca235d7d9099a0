package helper

// The safety point before a migration, when the cluster archives to a
// bucket: a named restore point, its WAL segment switched out and waited
// for until archived. Milliseconds whatever the database's size, where a
// dump reads every row. When archiving can't promise the point is
// restorable (failing, or no base backup in the bucket yet) the step says
// why and the client falls back to a dump.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ArchivePointArgs are archive-point's arguments.
type ArchivePointArgs struct {
	DBArgs
	// App names the stanza.
	App string `json:"app"`
	// ID names the record, backups/<ID>.point; Name is the restore point's
	// name (the release about to start).
	ID   string `json:"id"`
	Name string `json:"name"`
	// Release is the release serving ("" none).
	Release string `json:"release"`
	// Wait bounds the wait for the segment's archiving, in seconds.
	Wait int `json:"wait"`
}

func init() {
	Register("archive-point", true, func(ctx context.Context, e *Env, a ArchivePointArgs) error {
		return archivePoint(ctx, e, osPrograms{e}, a)
	})
}

// archivePoint prints "result ok off" when the app's cluster doesn't
// archive (no stanza config), "result ok fallback <why>" when archiving
// can't be trusted, else creates the point, waits for its segment in the
// bucket, writes backups/<id>.point (the .meta fields, kind=point, wal=,
// lsn=) and prints "result ok id=... wal=... lsn=... schema=...
// duration_ms=...".
func archivePoint(ctx context.Context, e *Env, progs programs, a ArchivePointArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	switch {
	case !appNameRE.MatchString(a.App):
		return fmt.Errorf("app name %q: want lower-case letters, digits and -", a.App)
	case !backupIDRE.MatchString(a.ID):
		return fmt.Errorf("id %q: want <UTC time>-<letters, digits, ->", a.ID)
	case !releaseIDRE.MatchString(a.Name) || len(a.Name) > 60:
		return fmt.Errorf("restore point name %q: want a release id", a.Name)
	case a.Release != "" && !releaseIDRE.MatchString(a.Release):
		return fmt.Errorf("release %q: want a release id", a.Release)
	}
	if !exists(e.Path(ArchiveConfFile(a.App))) {
		e.Result("ok", "off")
		return nil
	}
	t0 := time.Now()
	// Archiving failing since its last success: the bucket lags.
	st, err := psql(ctx, progs, nil, "-F", " ", "-c", "SELECT coalesce(last_archived_wal, '-'), coalesce(last_failed_wal, '-'), (last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)) FROM pg_stat_archiver")
	if err != nil {
		e.Result("ok", "fallback PostgreSQL does not answer: "+outputLine([]byte(err.Error())))
		return nil
	}
	if f := strings.Fields(st); len(f) == 3 && f[2] == "t" {
		e.Result("ok", fmt.Sprintf("fallback WAL archiving is failing (segment %s not archived; pg_stat_archiver, journalctl -u postgresql)", f[1]))
		return nil
	}
	vars, db, err := a.vars(e)
	if err != nil {
		return err
	}
	// The bucket's backups (an S3 round trip) and the schema version are
	// read while the point's segment is archived: a deploy waits for the
	// longest of the three, not their sum.
	type count struct {
		n   int
		err error
	}
	backups, schemaC := make(chan count, 1), make(chan int64, 1)
	go func() { n, err := archiveBackups(ctx, progs, a.App); backups <- count{n, err} }()
	go func() { schemaC <- schemaOf(ctx, a.User, vars, db) }()
	// One psql: the point, its segment, the switch. a.Name is a checked
	// release id: no quote in it.
	out, err := psql(ctx, progs, nil, "-F", " ", "-c", "SELECT p, pg_walfile_name(p), pg_switch_wal() FROM pg_create_restore_point('"+a.Name+"') AS p")
	f := strings.Fields(out)
	if err != nil || len(f) != 3 {
		return failed(e, "pg_create_restore_point: %v %s", err, out)
	}
	lsn, seg := f[0], f[1]
	deadline := time.Now().Add(time.Duration(max(a.Wait, 1)) * time.Second)
	for {
		last, err := psql(ctx, progs, nil, "-c", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		// Segment names sort in WAL order (fixed-width hex, timeline
		// first).
		if err == nil && len(last) == len(seg) && last >= seg {
			break
		}
		if time.Now().After(deadline) {
			e.Result("ok", fmt.Sprintf("fallback the restore point's segment %s was not archived within %d s (last archived %s)", seg, a.Wait, dash(last)))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if b := <-backups; b.err != nil {
		e.Result("ok", "fallback the bucket does not answer: "+b.err.Error())
		return nil
	} else if b.n == 0 {
		e.Result("ok", "fallback no base backup in the bucket yet")
		return nil
	}
	schema := <-schemaC
	dur := time.Since(t0).Milliseconds()
	dp := a.DeployPath
	uid, gid, err := ownerOf(e.Path(dp+"/releases"), e.Path(dp))
	if err != nil {
		return failed(e, "no %s: %v", dp, err)
	}
	bk := dp + "/backups"
	if err := ownedDir(e.Path(bk), uid, gid); err != nil {
		return failed(e, "cannot create %s: %v", bk, err)
	}
	when := e.Time().UTC().Format("2006-01-02T15:04:05Z")
	rec := fmt.Sprintf("when=%s\nsize=0\nschema=%d\nrelease=%s\nkind=point\nduration_ms=%d\ndatabase=%s\nname=%s\nwal=%s\nlsn=%s\n", when, schema, dash(a.Release), dur, db, a.Name, seg, lsn)
	tmp := e.Path(bk + "/." + a.ID + ".point.tmp")
	err = os.WriteFile(tmp, []byte(rec), 0o600)
	if err == nil {
		err = os.Chown(tmp, uid, gid)
	}
	if err == nil {
		err = os.Rename(tmp, e.Path(bk+"/"+a.ID+".point"))
	}
	if err != nil {
		os.Remove(tmp)
		return failed(e, "cannot write %s/%s.point: %v", bk, a.ID, err)
	}
	prunePoints(e.Path(bk), keepPoints)
	e.Result("ok", fmt.Sprintf("id=%s wal=%s lsn=%s schema=%d duration_ms=%d", a.ID, seg, lsn, schema, dur))
	return nil
}

// keepPoints is how many .point records stay: a record is a few lines,
// but a point older than the bucket's oldest backup can't be restored
// anyway (pgBackRest's retention decides that).
const keepPoints = 50

// pointsNewestFirst lists dir's *.point records, newest first.
func pointsNewestFirst(dir string) []dumpFile {
	ents, _ := os.ReadDir(dir)
	var list []dumpFile
	for _, de := range ents {
		id, ok := strings.CutSuffix(de.Name(), ".point")
		if !ok || strings.HasPrefix(de.Name(), ".") || !de.Type().IsRegular() {
			continue
		}
		if fi, err := de.Info(); err == nil {
			list = append(list, dumpFile{id: id, mod: fi.ModTime()})
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].mod.Equal(list[j].mod) {
			return list[i].mod.After(list[j].mod)
		}
		return list[i].id > list[j].id
	})
	return list
}

func prunePoints(dir string, keep int) {
	list := pointsNewestFirst(dir)
	for i := keep; i < len(list); i++ {
		os.Remove(filepath.Join(dir, list[i].id+".point"))
	}
}

// pointFields are a .point record's fields on one line.
func pointFields(dir, id string) string {
	rec, _ := os.ReadFile(filepath.Join(dir, id+".point"))
	return strings.Join(strings.Fields(string(rec)), " ")
}

// ArchiveStatusArgs are archive-status's arguments.
type ArchiveStatusArgs struct {
	// App names the stanza.
	App string `json:"app"`
}

func init() {
	Register("archive-status", true, func(ctx context.Context, e *Env, a ArchiveStatusArgs) error {
		return archiveStatus(ctx, e, osPrograms{e}, a)
	})
}

// archiveStatus prints "result ok off" without the stanza's config, else
// "result ok last_wal=<segment> last_wal_at=<unix s> failing=<t|f>
// failed_wal=<segment> backup=<label> backup_type=<full|diff|incr>
// backup_at=<unix s>" ("-" for none, backup "?" when the bucket doesn't
// answer): pg_stat_archiver's and pgBackRest's
// newest good backup (a backup pgBackRest lists completed).
func archiveStatus(ctx context.Context, e *Env, progs programs, a ArchiveStatusArgs) error {
	if !appNameRE.MatchString(a.App) {
		return fmt.Errorf("app name %q: want lower-case letters, digits and -", a.App)
	}
	if !exists(e.Path(ArchiveConfFile(a.App))) {
		e.Result("ok", "off")
		return nil
	}
	st, err := psql(ctx, progs, nil, "-F", " ", "-c", "SELECT coalesce(last_archived_wal, '-'), coalesce(extract(epoch FROM last_archived_time)::bigint, 0), (last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)), coalesce(last_failed_wal, '-') FROM pg_stat_archiver")
	f := strings.Fields(st)
	if err != nil || len(f) != 4 {
		return failed(e, "pg_stat_archiver: %v", err)
	}
	label, typ, at := "-", "-", "0"
	// A bucket that doesn't answer must not hang status: bounded.
	ictx, cancel := context.WithTimeout(ctx, 40*time.Second)
	out, err := progs.run(ictx, program{argv: []string{"pgbackrest", "--stanza=" + a.App, "--output=json", "info"}, user: "postgres", dir: "/"})
	cancel()
	var info []struct {
		Backup []struct {
			Label     string `json:"label"`
			Type      string `json:"type"`
			Timestamp struct {
				Stop int64 `json:"stop"`
			} `json:"timestamp"`
		} `json:"backup"`
	}
	if err != nil {
		label = "?"
	} else if json.Unmarshal(out, &info) == nil && len(info) == 1 && len(info[0].Backup) > 0 {
		b := info[0].Backup[len(info[0].Backup)-1]
		label, typ, at = b.Label, b.Type, fmt.Sprint(b.Timestamp.Stop)
	}
	e.Result("ok", fmt.Sprintf("last_wal=%s last_wal_at=%s failing=%s failed_wal=%s backup=%s backup_type=%s backup_at=%s", f[0], f[1], f[2], f[3], label, typ, at))
	return nil
}
