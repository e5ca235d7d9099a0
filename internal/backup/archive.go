package backup

// Continuous archiving to an S3-compatible bucket (pgBackRest), set up by
// provision: the settings, read on the client, and the call of the
// helper's archive-setup step, which writes them on the server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/service"
)

// Archive defaults: pgBackRest's usual weekly full with daily
// differentials, two weeks of fulls kept, a minute of data at most lost on
// a quiet server.
const (
	DefaultRetentionFull  = 2
	DefaultRetentionDiff  = 6
	DefaultFullSchedule   = "Sun *-*-* 03:00"
	DefaultDiffSchedule   = "Mon..Sat *-*-* 03:00"
	DefaultArchiveTimeout = 60
	DefaultRegion         = "us-east-1"
)

// ArchiveConfig is where and how the PostgreSQL provision manages archives
// its WAL and backups: the BACKUP_* settings.
type ArchiveConfig struct {
	// Args are the helper's arguments, secrets included: never print them.
	Args helper.ArchiveArgs
}

// Enabled says whether a bucket is set (BACKUP_S3_BUCKET).
func (c ArchiveConfig) Enabled() bool { return c.Args.Bucket != "" }

// ArchiveFromEnv reads the BACKUP_* settings for the app of svc: none set
// is archiving off; a bucket without its endpoint, keys or passphrase is
// one error line naming what is missing.
func ArchiveFromEnv(getenv func(string) string, svc service.Config) (ArchiveConfig, error) {
	var c ArchiveConfig
	a := &c.Args
	a.Bucket = getenv("BACKUP_S3_BUCKET")
	if a.Bucket == "" {
		for _, k := range []string{"BACKUP_S3_ENDPOINT", "BACKUP_S3_KEY", "BACKUP_S3_SECRET", "BACKUP_CIPHER_PASS"} {
			if getenv(k) != "" {
				return c, fmt.Errorf("%s is set but BACKUP_S3_BUCKET is not: set the bucket too (docs/backups.md), or unset %s", k, k)
			}
		}
		return c, nil
	}
	a.App = svc.AppName
	a.Endpoint = getenv("BACKUP_S3_ENDPOINT")
	a.Key, a.Secret, a.CipherPass = getenv("BACKUP_S3_KEY"), getenv("BACKUP_S3_SECRET"), getenv("BACKUP_CIPHER_PASS")
	var missing []string
	for k, v := range map[string]string{"BACKUP_S3_ENDPOINT": a.Endpoint, "BACKUP_S3_KEY": a.Key, "BACKUP_S3_SECRET": a.Secret, "BACKUP_CIPHER_PASS": a.CipherPass} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return c, fmt.Errorf("BACKUP_S3_BUCKET is set but %s not: set them (docs/backups.md)", strings.Join(missing, ", "))
	}
	a.Prefix = or(getenv("BACKUP_S3_PREFIX"), "/slipway/"+svc.AppName)
	a.Region = or(getenv("BACKUP_S3_REGION"), DefaultRegion)
	a.FullSchedule = or(getenv("BACKUP_FULL_SCHEDULE"), DefaultFullSchedule)
	a.DiffSchedule = or(getenv("BACKUP_DIFF_SCHEDULE"), DefaultDiffSchedule)
	var err error
	for _, n := range []struct {
		key string
		to  *int
		def int
	}{{"BACKUP_RETENTION_FULL", &a.RetentionFull, DefaultRetentionFull}, {"BACKUP_RETENTION_DIFF", &a.RetentionDiff, DefaultRetentionDiff}, {"BACKUP_ARCHIVE_TIMEOUT", &a.ArchiveTimeout, DefaultArchiveTimeout}} {
		*n.to = n.def
		if v := getenv(n.key); v != "" {
			if *n.to, err = strconv.Atoi(v); err != nil {
				return c, fmt.Errorf("%s=%q: want a whole number", n.key, v)
			}
		}
	}
	if f := getenv("BACKUP_S3_CA_FILE"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return c, fmt.Errorf("BACKUP_S3_CA_FILE: %w", err)
		}
		a.CA = string(pem)
	}
	a.OnFailure = helper.OnFailure(svc.AppName)
	a.Marker = service.PostgreSQLMarker
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ProvisionArchive sets up archiving on the server of r when c is enabled:
// pgBackRest installed, the stanza written, created and checked, a first
// full backup, the timers. It prints the step's "changed:" lines to out
// and, the first time, how to keep the keys. Without a bucket it does
// nothing.
func ProvisionArchive(ctx context.Context, r service.Runner, c ArchiveConfig, out io.Writer) (changes int, err error) {
	if !c.Enabled() {
		return 0, nil
	}
	res, err := client.Call(ctx, r, "archive-setup", c.Args)
	for _, l := range strings.Split(string(res), "\n") {
		if strings.HasPrefix(l, "changed: ") {
			fmt.Fprintln(out, l)
			changes++
		}
	}
	if err != nil {
		why := strings.TrimSpace(strings.TrimPrefix(client.Result(res), "failed"))
		if why == "" {
			why = strings.TrimSpace(string(bytes.TrimSpace(res)))
		}
		return changes, errors.New("backups to the bucket: " + why)
	}
	if client.Result(res) == "ok theirs" {
		fmt.Fprintf(out, "todo: BACKUP_S3_BUCKET is set but PostgreSQL was installed without provision: set up its archiving yourself (docs/backups.md)\n")
		return changes, nil
	}
	if changes > 0 {
		fmt.Fprintf(out, "keep elsewhere: BACKUP_CIPHER_PASS, BACKUP_S3_KEY/BACKUP_S3_SECRET and the env file's PASSWORD_PEPPER: without them the bucket can't be restored onto a new server (docs/backups.md)\n")
	}
	return changes, nil
}

// PointWait bounds the wait for a restore point's WAL segment to reach
// the bucket before a migration: past it, the deploy dumps instead.
const PointWait = 60 * time.Second

// Point creates a restore point named name (the release about to start)
// as backups/<id>.point when the app's cluster archives to a bucket, and
// waits until its WAL segment is there. off says the cluster doesn't
// archive; a non-empty fallback says why the point can't be trusted (a
// failing archive, no base backup yet): the caller dumps instead.
func (s Server) Point(ctx context.Context, id, name, release string) (info Info, off bool, fallback string, err error) {
	args := helper.ArchivePointArgs{DBArgs: s.dbArgs(), App: s.C.AppName, ID: id, Name: name, Release: release, Wait: int(PointWait / time.Second)}
	out, err := client.Call(ctx, s.R, "archive-point", args)
	res := client.Result(out)
	if err != nil || !strings.HasPrefix(res, "ok") {
		why := strings.TrimSpace(strings.TrimPrefix(res, "failed"))
		if why == "" && err != nil {
			why = err.Error()
		}
		return Info{}, false, "", fmt.Errorf("restore point on %s: %s", s.Alias, why)
	}
	rest := strings.TrimSpace(strings.TrimPrefix(res, "ok"))
	if rest == "off" {
		return Info{}, true, "", nil
	}
	if why, ok := strings.CutPrefix(rest, "fallback "); ok {
		return Info{}, false, why, nil
	}
	kv := map[string]string{}
	for _, w := range strings.Fields(rest) {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = v
	}
	info = Info{ID: id, Release: release, Kind: KindPoint, When: time.Now().UTC(), WAL: kv["wal"], Name: name}
	info.Schema, _ = strconv.ParseInt(kv["schema"], 10, 64)
	ms, _ := strconv.ParseInt(kv["duration_ms"], 10, 64)
	info.Duration = time.Duration(ms) * time.Millisecond
	return info, false, "", nil
}

// Materialize restores the bucket's cluster into a scratch folder on the
// server, to the restore point point, or to the moment at (RFC 3339), or
// (both "") to the newest state, and dumps the app's database from it as
// backups/<id>.dump: an ordinary backup that Prepare and Swap bring in
// while the live cluster keeps running. release is the one serving.
func (s Server) Materialize(ctx context.Context, id, point, at, release string) (Info, error) {
	args := helper.ArchiveMaterializeArgs{DBArgs: s.dbArgs(), App: s.C.AppName, ID: id, Point: point, Time: at, Release: release}
	// Not in a detached unit: its hardening keeps /var/lib/postgresql
	// read-only. A client killed here leaves at most a scratch cluster,
	// which the next restore from the bucket removes first; nothing the
	// app sees has changed.
	kv, err := s.call(ctx, "archive-materialize", args)
	if err != nil {
		return Info{}, fmt.Errorf("restore from the bucket on %s: %w", s.Alias, err)
	}
	b := Info{ID: id, Release: release, Kind: KindArchive, When: time.Now().UTC()}
	b.Size, _ = strconv.ParseInt(kv["size"], 10, 64)
	b.Schema, _ = strconv.ParseInt(kv["schema"], 10, 64)
	ms, _ := strconv.ParseInt(kv["duration_ms"], 10, 64)
	b.Duration = time.Duration(ms) * time.Millisecond
	return b, nil
}

// BackupStaleAfter is how old the newest good backup in the bucket may be
// before status raises an alert (and the server's archive check fails).
const BackupStaleAfter = helper.BackupStaleAfter

// ArchiveStatus is what status shows of the archive: the newest WAL
// segment archived, and the newest good backup in the bucket.
type ArchiveStatus struct {
	LastWAL   string    `json:"last_wal"` // "" none yet
	LastWALAt time.Time `json:"last_wal_at"`
	// Failing is set when the last archive attempt failed (FailedWAL).
	Failing   bool   `json:"failing"`
	FailedWAL string `json:"failed_wal,omitempty"`
	// Backup is the newest good backup's pgBackRest label and type.
	Backup     string    `json:"backup"`
	BackupType string    `json:"backup_type"`
	BackupAt   time.Time `json:"backup_at"`
	// Alerts are one line each: archiving failing, no backup or a stale
	// one (older than BackupStaleAfter).
	Alerts []string `json:"alerts"`
}

// ArchiveState reads the archive's state on the server; nil when the
// app's cluster doesn't archive to a bucket.
func (s Server) ArchiveState(ctx context.Context, now time.Time) (*ArchiveStatus, error) {
	out, err := client.Call(ctx, s.R, "archive-status", helper.ArchiveStatusArgs{App: s.C.AppName})
	res := client.Result(out)
	if err != nil || !strings.HasPrefix(res, "ok") {
		return nil, fmt.Errorf("archive status on %s: %s", s.Alias, or(strings.TrimSpace(strings.TrimPrefix(res, "failed")), fmt.Sprint(err)))
	}
	rest := strings.TrimSpace(strings.TrimPrefix(res, "ok"))
	if rest == "off" {
		return nil, nil
	}
	kv := map[string]string{}
	for _, w := range strings.Fields(rest) {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = strings.TrimPrefix(v, "-")
	}
	unix := func(k string) time.Time {
		n, _ := strconv.ParseInt(kv[k], 10, 64)
		if n == 0 {
			return time.Time{}
		}
		return time.Unix(n, 0).UTC()
	}
	st := &ArchiveStatus{LastWAL: kv["last_wal"], LastWALAt: unix("last_wal_at"), Failing: kv["failing"] == "t", FailedWAL: kv["failed_wal"],
		Backup: kv["backup"], BackupType: kv["backup_type"], BackupAt: unix("backup_at"), Alerts: []string{}}
	if st.Failing {
		st.Alerts = append(st.Alerts, fmt.Sprintf("WAL archiving is failing: segment %s not in the bucket (last archived %s); journalctl -u postgresql on the server", or(st.FailedWAL, "?"), or(st.LastWAL, "none")))
	}
	switch {
	case st.Backup == "?":
		st.Backup = ""
		st.Alerts = append(st.Alerts, "the bucket does not answer: its backups are unknown (pgbackrest info on the server)")
	case st.Backup == "":
		st.Alerts = append(st.Alerts, "no good backup in the bucket")
	case now.Sub(st.BackupAt) > BackupStaleAfter:
		st.Alerts = append(st.Alerts, fmt.Sprintf("the newest good backup (%s) is %s old, over %s: see systemctl status %s-backup.service", st.Backup, now.Sub(st.BackupAt).Round(time.Minute), BackupStaleAfter, s.C.AppName))
	}
	return st, nil
}

// Verify checks the bucket on the server (helper.ArchiveVerifyArgs):
// pgbackrest verify, then the newest state restored into a scratch
// cluster, holding a sentinel row written just before. It returns the
// step's summary (sentinel=, schema=, duration_ms=).
func (s Server) Verify(ctx context.Context) (string, error) {
	out, err := client.Call(ctx, s.R, "archive-verify", helper.ArchiveVerifyArgs{App: s.C.AppName})
	res := client.Result(out)
	if err != nil || !strings.HasPrefix(res, "ok") {
		return "", fmt.Errorf("verify on %s: %s", s.Alias, or(strings.TrimSpace(strings.TrimPrefix(res, "failed")), fmt.Sprint(err)))
	}
	return strings.TrimSpace(strings.TrimPrefix(res, "ok")), nil
}
