package backup

// Continuous archiving on the sandbox: real pgBackRest (Debian's) pushing
// to a real S3 server on this machine (s3test), which the sandbox reaches
// on localhost: it shares this machine's network.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/s3test"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
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
		t.Fatalf("%v\n%s\nS3 server: %s", err, out.String(), s.Log())
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
}
