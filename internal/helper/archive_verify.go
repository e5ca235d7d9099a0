package helper

// Verification of the bucket: pgBackRest's own verify (every file of
// every backup and WAL segment against its checksum), then a real restore
// of the newest state into a scratch cluster, which must hold a sentinel
// row written just before and the app's schema version.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ArchiveVerifyArgs are archive-verify's arguments.
type ArchiveVerifyArgs struct {
	// App names the stanza; its database is named after it (provision's).
	App string `json:"app"`
}

// ArchiveVerifyUnit is the weekly verification's unit name (.service,
// .timer); VerifySchedule its OnCalendar=.
func ArchiveVerifyUnit(app string) string { return app + "-verify" }

// VerifySchedule is when the weekly verification runs.
const VerifySchedule = "Sat *-*-* 04:00"

func init() {
	Register("archive-verify", true, func(ctx context.Context, e *Env, a ArchiveVerifyArgs) error {
		summary, err := archiveVerify(ctx, e, osPrograms{e}, a.App)
		if err != nil {
			return failed(e, "%v", err)
		}
		e.Result("ok", summary)
		return nil
	})
	// Not "archive-verify": that name is the step's, and unit commands
	// are dispatched first.
	unitCommands["verify-archive"] = func(ctx context.Context, e *Env, args []string) error {
		if len(args) != 1 {
			return errors.New("usage: slipway-helper verify-archive <app>")
		}
		summary, err := archiveVerify(ctx, e, osPrograms{e}, args[0])
		if err == nil {
			fmt.Fprintln(e.Out, "verified:", summary)
		}
		return err
	}
}

// archiveVerify runs pgbackrest verify, writes a sentinel row (table
// slipway_sentinel of the postgres database), waits until its WAL is
// archived, restores the newest state into the scratch cluster, and checks
// the row and the app's schema version there. It returns "sentinel=<v>
// schema=<n> duration_ms=<ms>" and removes the scratch cluster whatever
// happened; it records the outcome in /var/lib/slipway/<app>-verify.last.
func archiveVerify(ctx context.Context, e *Env, progs programs, app string) (summary string, err error) {
	if !appNameRE.MatchString(app) {
		return "", fmt.Errorf("app name %q: want lower-case letters, digits and -", app)
	}
	if !exists(e.Path(ArchiveConfFile(app))) {
		return "", fmt.Errorf("this server does not archive %s's database to a bucket (BACKUP_S3_BUCKET, then provision)", app)
	}
	t0 := time.Now()
	defer func() {
		line := "ok " + summary
		if err != nil {
			line = "failed " + err.Error()
		}
		last := "/var/lib/slipway/" + app + "-verify.last"
		_ = os.MkdirAll(e.Path("/var/lib/slipway"), 0o755)
		_ = os.WriteFile(e.Path(last), []byte(e.Time().UTC().Format(time.RFC3339)+" "+line+"\n"), 0o644)
	}()
	if out, err := progs.run(ctx, program{argv: []string{"pgbackrest", "--stanza=" + app, "verify"}, user: "postgres", dir: "/"}); err != nil {
		return "", fmt.Errorf("pgbackrest verify found the bucket damaged: %s", outputLine(out))
	}
	sentinel := strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := psql(ctx, progs, nil, "-c", "CREATE TABLE IF NOT EXISTS slipway_sentinel (v text, at timestamptz DEFAULT now()); INSERT INTO slipway_sentinel (v) VALUES ('"+sentinel+"'); DELETE FROM slipway_sentinel WHERE at < now() - interval '30 days'"); err != nil {
		return "", fmt.Errorf("write the sentinel row: %w", err)
	}
	lsn, err := psql(ctx, progs, nil, "-c", "SELECT pg_walfile_name(pg_current_wal_lsn())")
	if err != nil {
		return "", err
	}
	if _, err := psql(ctx, progs, nil, "-c", "SELECT pg_switch_wal()"); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		last, err := psql(ctx, progs, nil, "-c", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		if err == nil && len(last) == len(lsn) && last >= lsn {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the sentinel's WAL segment %s was not archived within 2 minutes", lsn)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pg, err := lookupAccount(e, "postgres")
	if err != nil || pg == nil {
		return "", errors.New("no postgres account on this server")
	}
	sc := scratchCluster{dir: e.Path(ScratchDir(app)), progs: progs}
	sc.remove(ctx)
	defer sc.remove(context.WithoutCancel(ctx))
	if err := os.Mkdir(sc.dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chown(sc.dir, pg.uid, pg.gid); err != nil {
		return "", err
	}
	if out, err := progs.run(ctx, program{argv: []string{"pgbackrest", "--stanza=" + app, "--pg1-path=" + ScratchDir(app), "--archive-mode=off", "--type=default", "restore"}, user: "postgres", dir: "/"}); err != nil {
		return "", fmt.Errorf("pgbackrest restore of the newest backup: %s", outputLine(out))
	}
	if err := sc.start(ctx, pg); err != nil {
		return "", err
	}
	in := func(db, sql string) (string, error) {
		return psqlAs(ctx, pgSuperuser, []string{"PGHOST=" + ScratchDir(app), "PGPORT=" + strconv.Itoa(scratchPort), "PGDATABASE=" + db}, sql)
	}
	got, err := in("postgres", "SELECT count(*) FROM slipway_sentinel WHERE v = '"+sentinel+"'")
	if err != nil || got != "1" {
		return "", fmt.Errorf("the restored cluster lacks the sentinel row written before it (%q, %v): the bucket's WAL does not reach the present", got, err)
	}
	schema := "-"
	if v, err := in(app, "SELECT COALESCE(max(version_id), 0) FROM goose_db_version"); err == nil {
		schema = strings.TrimSpace(v)
	}
	return fmt.Sprintf("sentinel=%s schema=%s duration_ms=%d", sentinel, schema, time.Since(t0).Milliseconds()), nil
}
