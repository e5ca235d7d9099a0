package backup

import (
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/service"
)

func TestArchiveSettingsRefuseAHalfSetBucketNamingWhatIsMissing(t *testing.T) {
	svc := service.DefaultsFor("shop")
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	c, err := ArchiveFromEnv(env(nil), svc)
	if err != nil || c.Enabled() {
		t.Errorf("no setting: %+v, %v; want archiving off", c, err)
	}
	_, err = ArchiveFromEnv(env(map[string]string{"BACKUP_S3_BUCKET": "b-1", "BACKUP_S3_KEY": "k"}), svc)
	if err == nil || !strings.Contains(err.Error(), "BACKUP_CIPHER_PASS, BACKUP_S3_ENDPOINT, BACKUP_S3_SECRET") {
		t.Errorf("half set: %v", err)
	}
	_, err = ArchiveFromEnv(env(map[string]string{"BACKUP_S3_SECRET": "s"}), svc)
	if err == nil || !strings.Contains(err.Error(), "BACKUP_S3_BUCKET is not") {
		t.Errorf("a secret without a bucket: %v", err)
	}
	full := map[string]string{"BACKUP_S3_BUCKET": "b-1", "BACKUP_S3_ENDPOINT": "s3.example.com", "BACKUP_S3_KEY": "k", "BACKUP_S3_SECRET": "s", "BACKUP_CIPHER_PASS": "p", "BACKUP_RETENTION_FULL": "two"}
	if _, err = ArchiveFromEnv(env(full), svc); err == nil || !strings.Contains(err.Error(), "BACKUP_RETENTION_FULL") {
		t.Errorf("a bad count: %v", err)
	}
	delete(full, "BACKUP_RETENTION_FULL")
	c, err = ArchiveFromEnv(env(full), svc)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Args
	if a.App != "shop" || a.Prefix != "/slipway/shop" || a.Region != DefaultRegion || a.RetentionFull != DefaultRetentionFull ||
		a.DiffSchedule != DefaultDiffSchedule || a.ArchiveTimeout != DefaultArchiveTimeout || a.OnFailure != "shop-notify@%n.service" || a.Marker != service.PostgreSQLMarker {
		t.Errorf("defaults: %+v", a)
	}
}

func TestARestorePointIsListedAndLoggedWithItsWALSegment(t *testing.T) {
	out := []byte("backup 20260102T030405Z-rel2 file_size=0 when=2026-01-02T03:04:05Z size=0 schema=7 release=rel1 kind=point duration_ms=412 database=shop name=20260102T030405Z-rel2 wal=000000010000000000000005 lsn=0/5000090\nresult ok count=1\n")
	list := parseList(out)
	if len(list) != 1 {
		t.Fatalf("%+v", list)
	}
	b := list[0]
	if b.Kind != KindPoint || b.WAL != "000000010000000000000005" || b.Name != b.ID || b.Schema != 7 || b.Release != "rel1" {
		t.Errorf("parsed %+v", b)
	}
	if got := b.LogFields(); got != "backup=20260102T030405Z-rel2 backup_kind=point backup_point=20260102T030405Z-rel2 backup_wal=000000010000000000000005 backup_schema=7 backup_duration=412ms" {
		t.Errorf("deploy.log fields: %s", got)
	}
	var w strings.Builder
	Print(&w, "web", list)
	if !strings.Contains(w.String(), "WAL 000000010000000000000005") || !strings.Contains(w.String(), "point") {
		t.Errorf("backups table:\n%s", w.String())
	}
}
