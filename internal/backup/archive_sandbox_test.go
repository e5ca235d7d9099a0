package backup

// Continuous archiving on the sandbox: real pgBackRest (Debian's) pushing
// to a real S3 server on this machine (s3test), which the sandbox reaches
// on localhost: it shares this machine's network.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/notify"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/s3test"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }

// archiveEnv is the BACKUP_* settings for the S3 server s.
func archiveEnv(t *testing.T, s *s3test.Server, extra map[string]string) func(string) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BACKUP_S3_ENDPOINT": s.Endpoint, "BACKUP_S3_BUCKET": s.Bucket, "BACKUP_S3_REGION": s.Region,
		"BACKUP_S3_KEY": s.Key, "BACKUP_S3_SECRET": s.Secret, "BACKUP_S3_CA_FILE": ca,
		"BACKUP_CIPHER_PASS": "a test passphrase long enough 0123456789",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// pgbackrestInfo is the stanza's backups, oldest first: their labels and
// types.
func pgbackrestInfo(t *testing.T, sb *sandbox.Instance, stanza string) (labels, types []string) {
	t.Helper()
	out := sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza="+stanza, "--output=json", "info")
	var info []struct {
		Backup []struct {
			Label string `json:"label"`
			Type  string `json:"type"`
		} `json:"backup"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || len(info) != 1 {
		t.Fatalf("pgbackrest info: %v\n%s", err, out)
	}
	for _, b := range info[0].Backup {
		labels, types = append(labels, b.Label), append(types, b.Type)
	}
	return labels, types
}

func TestArchiveSendsEncryptedWALAndScheduledBackupsToTheBucket(t *testing.T) {
	s := s3test.Start(t)
	sb := sandboxtest.Get(t)
	cl := sandboxtest.Dial(t, sb)
	ctx := context.Background()
	svc := service.DefaultConfig()
	svc.AppName = "bkarc"
	// The app provisioned with a webhook for the server's alerts (its
	// notify template), then the archive.
	events := make(chan notify.Event, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev notify.Event
		if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		events <- ev
	}))
	defer hook.Close()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	pc := svc
	pc.DeployPath, pc.ServiceUser, pc.ListenAddr = "/home/admin/bkarc", "bkarc", "127.0.0.1:"+strconv.Itoa(port)
	var pout bytes.Buffer
	if _, err := service.ProvisionWith(ctx, cl, pc, service.ProvisionOptions{ExternalDatabase: true, NotifyURL: hook.URL + "/hook"}, &pout); err != nil {
		t.Fatalf("provision: %v\n%s", err, pout.String())
	}
	// The sandbox's PostgreSQL comes with its base: mark it as provision's,
	// as on a server provision set up.
	sandboxtest.Run(t, sb, "install", "-D", "-m", "0644", "/dev/null", service.PostgreSQLMarker)
	c, err := ArchiveFromEnv(archiveEnv(t, s, map[string]string{"BACKUP_RETENTION_FULL": "1"}), svc)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := ProvisionArchive(ctx, cl, c, &out)
	if err != nil {
		diag, _ := sb.Run(ctx, "sh", "-c", "pg_lsclusters; ls -la /var/run/postgresql; cat /etc/pgbackrest/conf.d/bkarc.conf | grep -v secret | grep -v pass; ls /etc/pgbackrest* ; cat /etc/pgbackrest.conf; runuser -u postgres -- psql -Atc 'show port' -c 'show unix_socket_directories'")
		t.Fatalf("%v\n%s\nS3 server: %s\n%s", err, out.String(), s.Log(), diag)
	}
	for _, want := range []string{"first full backup", "archive_mode on", "bkarc-backup.timer", "keep elsewhere"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("provision's output lacks %q:\n%s", want, out.String())
		}
	}
	if n == 0 {
		t.Error("no change counted")
	}
	for _, secret := range []string{s.Secret, c.Args.CipherPass} {
		if strings.Contains(out.String(), secret) {
			t.Error("a secret in provision's output")
		}
	}
	// The config holding the secrets: root's, readable by postgres only.
	if st := sandboxtest.Run(t, sb, "stat", "-c", "%U:%G %a", "/etc/pgbackrest/conf.d/bkarc.conf"); strings.TrimSpace(st) != "root:postgres 640" {
		t.Errorf("config file: %s, want root:postgres 640", st)
	}

	// WAL reached the bucket, and no object is readable without the key:
	// each starts with OpenSSL's "Salted__" header (aes-256-cbc), not
	// lz4's magic nor a WAL page, and the info files are no plain text.
	wal := s.List(t, "slipway/bkarc/archive/bkarc/")
	var segments []string
	for _, k := range wal {
		if strings.HasSuffix(k, ".lz4") {
			segments = append(segments, k)
		}
	}
	if len(segments) == 0 {
		t.Fatalf("no WAL segment in the bucket: %q", wal)
	}
	for _, k := range append(segments[:1], "slipway/bkarc/archive/bkarc/archive.info", "slipway/bkarc/backup/bkarc/backup.info") {
		obj := s.Get(t, k)
		if !bytes.HasPrefix(obj, []byte("Salted__")) || bytes.Contains(obj, []byte("[db]")) || bytes.Contains(obj, []byte{0x04, 0x22, 0x4d, 0x18}) {
			t.Errorf("%s is not encrypted: %q...", k, obj[:min(len(obj), 32)])
		}
	}

	// Provision again: nothing to change, no second full backup.
	out.Reset()
	if n, err := ProvisionArchive(ctx, cl, c, &out); err != nil || n != 0 {
		t.Errorf("second provision: %d changes, %v\n%s", n, err, out.String())
	}
	first, _ := pgbackrestInfo(t, sb, "bkarc")
	if len(first) != 1 {
		t.Fatalf("backups after provision: %q, want the first full", first)
	}

	restorePointAndTime(t, sb, cl, svc)

	// The timers' services: a differential lands, then a full, after
	// which retention (one full) prunes the first full and its
	// differential.
	if st := sandboxtest.Run(t, sb, "systemctl", "is-enabled", "bkarc-backup.timer", "bkarc-backup-full.timer"); st != "enabled\nenabled\n" {
		t.Errorf("timers: %q", st)
	}
	sandboxtest.Run(t, sb, "systemctl", "start", "bkarc-backup.service")
	if _, types := pgbackrestInfo(t, sb, "bkarc"); strings.Join(types, " ") != "full diff" {
		t.Fatalf("after the differential unit: %q, want full diff", types)
	}
	sandboxtest.Run(t, sb, "systemctl", "start", "bkarc-backup-full.service")
	labels, types := pgbackrestInfo(t, sb, "bkarc")
	if strings.Join(types, " ") != "full" || labels[0] == first[0] {
		t.Errorf("after the full unit with retention 1: %q %q, want one new full (the first was %s)", labels, types, first[0])
	}

	// status: where the WAL and the backups stand, no alert.
	srv := Server{Alias: "sandbox", R: cl, C: svc}
	st, err := srv.ArchiveState(ctx, time.Now())
	if err != nil || st == nil || st.LastWAL == "" || st.Backup != labels[0] || st.BackupType != "full" || len(st.Alerts) != 0 {
		t.Fatalf("archive status: %+v, %v", st, err)
	}
	// Verification: the newest state restored with the sentinel row; then
	// one byte of a backup's file changed in the bucket fails it.
	vs := Server{Alias: "sandbox", R: cl, C: svc}
	if sum, err := vs.Verify(ctx); err != nil || !strings.Contains(sum, "sentinel=") {
		t.Fatalf("verify: %q, %v", sum, err)
	}
	var victim string
	var size int64
	for _, k := range s.List(t, "slipway/bkarc/backup/bkarc/"+labels[0]+"/pg_data/") {
		if fi, err := os.Stat(s.ObjectPath(k)); err == nil && fi.Size() > size {
			victim, size = k, fi.Size()
		}
	}
	f, err := os.OpenFile(s.ObjectPath(victim), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("corrupted"), size/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// pgbackrest verify (2.45) or the restore after it catches it.
	if _, err := vs.Verify(ctx); err == nil {
		t.Errorf("verify passed with %s corrupted", victim)
	} else {
		t.Logf("verify of a corrupted object: %v", err)
	}

	// The S3 server gone: the next segment fails to archive, status says
	// so in one line, and a deploy's safety point falls back to the dump.
	s.Stop()
	sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-c", "CREATE TABLE IF NOT EXISTS churn (x int); INSERT INTO churn VALUES (1); SELECT pg_switch_wal()")
	deadline := time.Now().Add(150 * time.Second)
	for st == nil || !st.Failing {
		if time.Now().After(deadline) {
			t.Fatalf("archiving not failing 150 s after the S3 server stopped: %+v", st)
		}
		time.Sleep(time.Second)
		if st, err = srv.ArchiveState(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Alerts) == 0 || !strings.Contains(st.Alerts[0], "WAL archiving is failing") {
		t.Errorf("alerts: %q", st.Alerts)
	}
	// The archive check fails, and its OnFailure= reaches the webhook.
	if _, err := sb.Run(ctx, "systemctl", "start", "bkarc-archive-check.service"); err == nil {
		t.Error("the archive check passed with archiving failing")
	}
	select {
	case ev := <-events:
		if ev.Kind != "archive" || ev.Outcome != "failed" || ev.Cause != "bkarc-archive-check.service failed (exit-code)" {
			t.Errorf("alert %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("no alert within 30 s: %s", sandboxtest.Run(t, sb, "journalctl", "--no-pager", "-n", "20", "-u", "bkarc-notify@*", "-u", "bkarc-archive-check.service"))
	}
	svc.DeployPath, svc.ServiceUser = "/home/admin/bkarc", "postgres"
	pointSrv := Server{Alias: "sandbox", R: cl, C: svc}
	if _, off, why, err := pointSrv.Point(ctx, NewID(time.Now(), "down"), NewID(time.Now(), "down"), ""); err != nil || off || !strings.Contains(why, "WAL archiving is failing") {
		t.Errorf("point with the archive failing: off %v, fallback %q, %v: want the fallback", off, why, err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
}

// restorePointAndTime: a restore point before a destructive change brings
// the rows back, and so does a time between an insert and a delete, each
// replayed from the bucket into a scratch cluster and dumped from there.
func restorePointAndTime(t *testing.T, sb *sandbox.Instance, cl *remote.Client, svc service.Config) {
	ctx := context.Background()
	url, err := sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	// The app: its env file and deploy path; psql runs with the URL's
	// credentials as an OS account the sandbox has.
	// The cluster's port: a base built while this machine's own
	// PostgreSQL held 5432 got the next one.
	port := strings.TrimSpace(sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-X", "-Atq", "-c", "SHOW port"))
	url += "&port=" + port
	svc.DeployPath, svc.ServiceUser = "/home/admin/bkarc", "postgres"
	sandboxtest.Run(t, sb, "install", "-d", "-m", "0755", svc.EnvDir())
	if err := apptest.WriteEnv(ctx, sb, svc.EnvFile(), "DATABASE_URL="+url+"\n"); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Run(t, sb, "install", "-d", "-o", "admin", "-g", "admin", svc.DeployPath, svc.DeployPath+"/releases")
	sql := func(q string) string {
		t.Helper()
		return strings.TrimSpace(sandboxtest.Run(t, sb, "runuser", "-u", "postgres", "--", "psql", "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", "app", "-c", q))
	}
	sql("CREATE TABLE goose_db_version (version_id bigint); INSERT INTO goose_db_version VALUES (7); CREATE TABLE sentinel (id int, note text); INSERT INTO sentinel VALUES (1, 'one'), (2, 'two'), (3, 'three'); ALTER TABLE goose_db_version OWNER TO app; ALTER TABLE sentinel OWNER TO app")
	s := Server{Alias: "sandbox", R: cl, C: svc}

	// The safety point before a migration, then the migration's damage.
	id := NewID(time.Now(), "rel1")
	point, off, why, err := s.Point(ctx, id, id, "rel0")
	if err != nil || off || why != "" {
		t.Fatalf("point: off %v, fallback %q, %v", off, why, err)
	}
	if point.WAL == "" || point.Schema != 7 {
		t.Errorf("point: %+v, want its WAL segment and schema 7", point)
	}
	t.Logf("restore point in %s (WAL %s archived)", point.Duration, point.WAL)
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Kind != KindPoint || list[0].WAL != point.WAL || list[0].Schema != 7 {
		t.Fatalf("backups list: %+v, %v: want the point", list, err)
	}
	sql("DELETE FROM sentinel WHERE id < 3; INSERT INTO sentinel VALUES (4, 'four')")

	rows := func(b Info) string {
		t.Helper()
		dump := svc.DeployPath + "/backups/" + b.ID + ".dump"
		out := sandboxtest.Run(t, sb, "pg_restore", "--data-only", "--table=sentinel", "--file=-", dump)
		var ids []string
		for _, l := range strings.Split(out, "\n") {
			// COPY's data lines: "<id>\t<note>".
			if id, _, ok := strings.Cut(l, "\t"); ok && id != "" && strings.Trim(id, "0123456789") == "" {
				ids = append(ids, id)
			}
		}
		return strings.Join(ids, ",")
	}
	t0 := time.Now()
	b, err := s.Materialize(ctx, NewID(time.Now(), "rel1-wal"), id, "", "rel0")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restored the point from the bucket and dumped the database in %s", time.Since(t0))
	if got := rows(b); got != "1,2,3" || b.Schema != 7 {
		t.Errorf("restored to the point: rows %q, schema %d; want 1,2,3 and 7", got, b.Schema)
	}
	if sandboxtest.Run(t, sb, "sh", "-c", "ls /var/lib/postgresql/ | grep -c slipway-restore || true") != "0\n" {
		t.Error("the scratch cluster was left behind")
	}

	// Point in time: row 5 inserted at T1, deleted at T2; a time between.
	sql("INSERT INTO sentinel VALUES (5, 'five')")
	time.Sleep(1500 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	sql("DELETE FROM sentinel WHERE id = 5")
	// The delete's WAL in the bucket: a later point switches and waits.
	if _, _, why, err := s.Point(ctx, NewID(time.Now(), "later"), NewID(time.Now(), "later"), "rel1"); err != nil || why != "" {
		t.Fatalf("later point: %q %v", why, err)
	}
	b, err = s.Materialize(ctx, NewID(time.Now(), "pitr"), "", between.Format(time.RFC3339Nano), "rel1")
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(b); got != "3,4,5" {
		t.Errorf("restored to %s: rows %q, want 3,4,5", between, got)
	}
}
