package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/bench/load"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/s3test"
	"github.com/slipway-dev/slipway/internal/service"
)

// BackupOptions configures Backup.
type BackupOptions struct {
	RigOptions
	// SizeMB is the data generated into the database (default 300);
	// Rate the probe's requests per second on /readyz during the restore
	// (default 50).
	SizeMB, Rate int
}

// BackupResult is bench:backup's figures, all from one run.
type BackupResult struct {
	DBSize     int64 // pg_database_size before the backup
	DumpSize   int64
	Backup     time.Duration // pg_dump + pg_restore --list, measured on the server
	Restore    time.Duration // pg_restore into a fresh database + its check
	Downtime   time.Duration // the swap, as the server measured it
	Probe      load.Result   // requests to /readyz during the whole restore
	WithBackup time.Duration // wall time of a migrating deploy, backup on
	NoBackup   time.Duration // the same kind of deploy, DEPLOY_BACKUP=off
	BackupStep time.Duration // the backup inside WithBackup (server-measured)
	// WithPoint is a third migrating deploy once the cluster archives to
	// a bucket (a local S3 server, s3test): its safety point is a restore
	// point, PointStep its creation and wait for the WAL's archiving.
	WithPoint, PointStep time.Duration
	// PointErr is why the restore-point deploy was not measured.
	PointErr string
}

// Backup measures backups and restores of a database of o.SizeMB on its
// own sandbox: seconds per GB of database for each, the app's unavailable
// time during restore (probed), and what the backup adds to a migrating
// deploy against DEPLOY_BACKUP=off in the same run.
func Backup(ctx context.Context, o BackupOptions) (BackupResult, error) {
	if o.SizeMB <= 0 {
		o.SizeMB = 300
	}
	if o.Rate <= 0 {
		o.Rate = 50
	}
	var res BackupResult
	r, err := NewRig(ctx, o.RigOptions)
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.FreshDatabase(ctx); err != nil {
		return res, err
	}
	db := fmt.Sprintf("bench_%d", r.dbs)
	opts := deploy.Options{Hosts: []string{r.Inst.Alias}, SSHConfig: r.Inst.ConfigPath, Binary: r.Binary, Service: r.Service,
		Stdout: io.Discard, Log: r.Log, Who: "bench@" + r.Inst.Name}
	if _, err := deploy.Deploy(ctx, opts, false); err != nil {
		return res, err
	}
	r.Printf("bench: generating %d MB into %s", o.SizeMB, db)
	// Rows of ~1 KiB of hex, 2:1 compressible like much real text.
	rows := o.SizeMB * 1024
	fill := fmt.Sprintf(`CREATE TABLE bench_fill (id bigint PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_fill SELECT g, (SELECT string_agg(md5(concat(random(), g, k)), '') FROM generate_series(1, 32) k) FROM generate_series(1, %d) g;
ALTER TABLE bench_fill OWNER TO %s;`, rows, r.Service.ServiceUser)
	if err := r.RunRoot(ctx, "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d %s -c %s", db, quoteSQL(fill)); err != nil {
		return res, err
	}
	out, err := r.Client.RunRoot(ctx, "runuser -u postgres -- psql -X -At -d postgres -c "+quoteSQL("SELECT pg_database_size('"+db+"')"), nil)
	if err != nil {
		return res, err
	}
	res.DBSize, _ = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)

	r.Printf("bench: backup of %s", Size(res.DBSize))
	taken, err := deploy.Backup(ctx, opts)
	if err != nil {
		return res, err
	}
	res.Backup, res.DumpSize = taken[0].Duration, taken[0].Size

	// Two migrating deploys, one migration each: backup on, then off.
	mig := func(n int) string {
		return fmt.Sprintf("-- +goose Up\nCREATE TABLE bench_m%d (id int);\n\n-- +goose Down\nDROP TABLE bench_m%d;\n", n, n)
	}
	withBk, err := r.BuildWith(ctx, "./cmd/app", "bench-bk", "be0c0001", map[string]string{"migrations/00090_bench_m1.sql": mig(1)})
	if err != nil {
		return res, err
	}
	noBk, err := r.BuildWith(ctx, "./cmd/app", "bench-nobk", "be0c0002", map[string]string{"migrations/00090_bench_m1.sql": mig(1), "migrations/00091_bench_m2.sql": mig(2)})
	if err != nil {
		return res, err
	}
	r.Printf("bench: a migrating deploy with its backup")
	o1 := opts
	o1.Binary = withBk
	start := time.Now()
	if _, err := deploy.Deploy(ctx, o1, false); err != nil {
		return res, err
	}
	res.WithBackup = time.Since(start)
	all, err := deploy.Backups(ctx, opts)
	if err != nil {
		return res, err
	}
	deployBackup := all[r.Inst.Alias][0]
	res.BackupStep = deployBackup.Duration
	r.Printf("bench: a migrating deploy with DEPLOY_BACKUP=off")
	o2 := opts
	o2.Binary, o2.NoBackup = noBk, true
	start = time.Now()
	if _, err := deploy.Deploy(ctx, o2, false); err != nil {
		return res, err
	}
	res.NoBackup = time.Since(start)
	if err := r.pointDeploy(ctx, opts, mig, &res); err != nil {
		res.PointErr = err.Error()
	}

	r.Printf("bench: restore of backup %s under a probe of %d req/s", deployBackup.ID, o.Rate)
	probe := load.Start(ctx, "http://"+r.Service.ListenAddr+"/readyz", o.Rate)
	rr, err := deploy.Restore(ctx, opts, deploy.RestoreOptions{Backup: deployBackup.ID})
	time.Sleep(500 * time.Millisecond)
	res.Probe = probe.Stop()
	if err != nil {
		return res, err
	}
	res.Restore, res.Downtime = rr.Prepared, rr.Downtime
	// The restored database must hold what the backup did.
	out, err = r.Client.RunRoot(ctx, "runuser -u postgres -- psql -X -At -d "+db+" -c "+quoteSQL("SELECT count(*) FROM bench_fill"), nil)
	if got := strings.TrimSpace(string(out)); err != nil || got != strconv.Itoa(rows) {
		return res, fmt.Errorf("bench: the restored %s holds %q rows of bench_fill, want %d: %v", db, got, rows, err)
	}
	return res, nil
}

// quoteSQL makes s one shell word.
func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// perGB is seconds per GiB of database.
func perGB(d time.Duration, size int64) string {
	if size == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s/GiB", d.Seconds()/(float64(size)/(1<<30)))
}

// Print writes the table.
func (b BackupResult) Print(w io.Writer) {
	t := Table{
		Title: "bench:backup: backups and restores on the sandbox",
		About: []string{
			fmt.Sprintf("database %s (pg_database_size), dump %s (pg_dump --format=custom)", Size(b.DBSize), Size(b.DumpSize)),
			"backup: pg_dump + pg_restore --list; restore: pg_restore into a fresh database + check (server-measured)",
		},
		Header: []string{"row", "time", "per GiB of database"},
	}
	t.Add("backup", Dur(b.Backup), perGB(b.Backup, b.DBSize))
	t.Add("restore (into a fresh database)", Dur(b.Restore), perGB(b.Restore, b.DBSize))
	t.Add("restore: swap downtime (server)", Dur(b.Downtime), "")
	t.Add("restore: probe's longest wait", Dur(b.Probe.Max), "")
	t.Add("migrating deploy, backup on", Dur(b.WithBackup), "")
	t.Add("migrating deploy, DEPLOY_BACKUP=off", Dur(b.NoBackup), "")
	if b.PointErr == "" {
		t.Add("migrating deploy, restore point (archive to S3)", Dur(b.WithPoint), "")
	}
	t.Note("probe during the restore: %s", b.Probe)
	t.Note("the backup adds %s to a migrating deploy (%s wall, %s vs off; its pg_dump took %s)",
		Dur(b.WithBackup-b.NoBackup), Ratio(b.WithBackup, b.NoBackup), Dur(b.WithBackup), Dur(b.BackupStep))
	if b.PointErr == "" {
		t.Note("with archiving to a bucket, the safety point is a restore point: %s (goal <= 1.2x) against DEPLOY_BACKUP=off (its point and WAL archived in %s), where the dump is %s",
			Ratio(b.WithPoint, b.NoBackup), Dur(b.PointStep), Ratio(b.WithBackup, b.NoBackup))
	} else {
		t.Note("restore point deploy not measured: %s", b.PointErr)
	}
	t.Print(w)
}

// pointDeploy sets up archiving to a local S3 server (s3test) on the
// rig's PostgreSQL, then measures a migrating deploy whose safety point is
// a restore point.
func (r *Rig) pointDeploy(ctx context.Context, opts deploy.Options, mig func(int) string, res *BackupResult) error {
	r.Printf("bench: archiving to a local S3 server, then a migrating deploy with a restore point")
	s3, err := s3test.New(filepath.Join(r.Dir, "s3"))
	if err != nil {
		return err
	}
	defer s3.Stop()
	ca := filepath.Join(r.Dir, "s3-ca.pem")
	if err := os.WriteFile(ca, s3.CAPEM, 0o644); err != nil {
		return err
	}
	env := map[string]string{"BACKUP_S3_ENDPOINT": s3.Endpoint, "BACKUP_S3_BUCKET": s3.Bucket, "BACKUP_S3_KEY": s3.Key,
		"BACKUP_S3_SECRET": s3.Secret, "BACKUP_S3_CA_FILE": ca, "BACKUP_CIPHER_PASS": "bench passphrase 0123456789abcdef"}
	c, err := backup.ArchiveFromEnv(func(k string) string { return env[k] }, r.Service)
	if err != nil {
		return err
	}
	// The sandbox's PostgreSQL comes with its base: provision's, here.
	if err := r.RunRoot(ctx, "install -D -m 0644 /dev/null %s", service.PostgreSQLMarker); err != nil {
		return err
	}
	if _, err := backup.ProvisionArchive(ctx, r.Client, c, io.Discard); err != nil {
		return err
	}
	bin, err := r.BuildWith(ctx, "./cmd/app", "bench-point", "be0c0003", map[string]string{"migrations/00090_bench_m1.sql": mig(1), "migrations/00091_bench_m2.sql": mig(2), "migrations/00092_bench_m3.sql": mig(3)})
	if err != nil {
		return err
	}
	o := opts
	o.Binary = bin
	start := time.Now()
	if _, err := deploy.Deploy(ctx, o, false); err != nil {
		return err
	}
	res.WithPoint = time.Since(start)
	all, err := deploy.Backups(ctx, opts)
	if err != nil {
		return err
	}
	if p := all[r.Inst.Alias][0]; p.Kind == backup.KindPoint {
		res.PointStep = p.Duration
	} else {
		return fmt.Errorf("the deploy took a %s backup, not a restore point", p.Kind)
	}
	return nil
}
