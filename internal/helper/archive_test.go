package helper

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordPrograms records the programs a step would run and runs none.
type recordPrograms struct{ argvs []string }

func (r *recordPrograms) run(_ context.Context, p program) ([]byte, error) {
	r.argvs = append(r.argvs, strings.Join(p.argv, " "))
	return nil, nil
}

func goodArchiveArgs() ArchiveArgs {
	return ArchiveArgs{
		App: "shop", Endpoint: "s3.example.com", Bucket: "shop-backups", Prefix: "/slipway/shop", Region: "eu-central-1",
		Key: "AKIAEXAMPLE", Secret: "the-s3-secret-value", CipherPass: "a-passphrase-of-enough-length",
		RetentionFull: 2, RetentionDiff: 6, FullSchedule: "Sun *-*-* 03:00", DiffSchedule: "Mon..Sat *-*-* 03:00",
		ArchiveTimeout: 60, OnFailure: "shop-notify@%n.service", Marker: "/var/lib/slipway/postgresql-installed-by-provision",
	}
}

func TestArchiveSetupRefusesBadSettingsNamingThemAndChangesNothing(t *testing.T) {
	for setting, mutate := range map[string]func(*ArchiveArgs){
		"BACKUP_S3_ENDPOINT":     func(a *ArchiveArgs) { a.Endpoint = "https://s3.example.com/x" },
		"BACKUP_S3_BUCKET":       func(a *ArchiveArgs) { a.Bucket = "Bad_Bucket" },
		"BACKUP_S3_PREFIX":       func(a *ArchiveArgs) { a.Prefix = "relative/path" },
		"BACKUP_S3_SECRET":       func(a *ArchiveArgs) { a.Secret = "two\nlines" },
		"BACKUP_CIPHER_PASS":     func(a *ArchiveArgs) { a.CipherPass = "short" },
		"BACKUP_RETENTION_FULL":  func(a *ArchiveArgs) { a.RetentionFull = 0 },
		"BACKUP_FULL_SCHEDULE":   func(a *ArchiveArgs) { a.FullSchedule = "daily\nExecStart=/bin/evil" },
		"BACKUP_ARCHIVE_TIMEOUT": func(a *ArchiveArgs) { a.ArchiveTimeout = 1 },
	} {
		root := t.TempDir()
		var out bytes.Buffer
		progs := &recordPrograms{}
		a := goodArchiveArgs()
		mutate(&a)
		err := archiveSetup(context.Background(), &Env{Root: root, Sys: NewFakeSystemd(), Out: &out}, progs, a)
		if err == nil || !strings.Contains(out.String(), setting) {
			t.Errorf("%s: err %v, output %q: want a refusal naming the setting", setting, err, out.String())
		}
		if strings.Contains(out.String(), a.Secret) || strings.Contains(out.String(), a.CipherPass) {
			t.Errorf("%s: a secret in the output %q", setting, out.String())
		}
		if len(progs.argvs) > 0 {
			t.Errorf("%s: ran %q", setting, progs.argvs)
		}
		if entries, _ := os.ReadDir(root); len(entries) > 0 {
			t.Errorf("%s: wrote %v", setting, entries)
		}
	}
}

func TestArchiveSetupLeavesAPostgreSQLProvisionDidNotInstall(t *testing.T) {
	root := t.TempDir()
	var out bytes.Buffer
	progs := &recordPrograms{}
	if err := archiveSetup(context.Background(), &Env{Root: root, Sys: NewFakeSystemd(), Out: &out}, progs, goodArchiveArgs()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "result ok theirs") || len(progs.argvs) > 0 {
		t.Errorf("output %q, programs %q: want ok theirs and nothing run", out.String(), progs.argvs)
	}
}

func TestArchiveConfigAndUnitsKeepTheStanzaTheAppsAndEncrypted(t *testing.T) {
	a := goodArchiveArgs()
	a.Endpoint, a.CA = "minio.internal:9000", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
	conf := string(archiveConf(a, liveCluster{dataDir: "/var/lib/postgresql/15/main", port: "5433", socketDir: "/var/run/postgresql"}))
	for _, want := range []string{"\n[shop]\n", "pg1-path=/var/lib/postgresql/15/main\n", "pg1-port=5433\n", "pg1-socket-path=/var/run/postgresql\n", "repo1-s3-endpoint=minio.internal\n", "repo1-storage-port=9000\n",
		"repo1-s3-uri-style=path\n", "repo1-cipher-type=aes-256-cbc\n", "repo1-cipher-pass=a-passphrase-of-enough-length\n",
		"repo1-retention-full=2\n", "repo1-retention-diff=6\n", "repo1-storage-ca-file=/etc/pgbackrest/shop-s3-ca.pem\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "[global]") {
		t.Error("config sets global options: another app's stanza would inherit them")
	}
	svc, timer := archiveUnit(a, "diff", a.DiffSchedule)
	for _, want := range []string{"OnFailure=shop-notify@%n.service\n", "User=postgres\n", "ExecStart=/usr/bin/pgbackrest --stanza=shop --type=diff backup\n"} {
		if !bytes.Contains(svc, []byte(want)) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	if !bytes.Contains(timer, []byte("OnCalendar=Mon..Sat *-*-* 03:00\n")) || !bytes.Contains(timer, []byte("Persistent=true")) {
		t.Errorf("timer:\n%s", timer)
	}
	if filepath.Base(ArchiveConfFile("shop")) != "shop.conf" {
		t.Error(ArchiveConfFile("shop"))
	}
}

func TestArchiveStepsOnAServerThatDoesNotArchiveSayOffOrRefuse(t *testing.T) {
	root := t.TempDir()
	var out bytes.Buffer
	e := &Env{Root: root, Sys: NewFakeSystemd(), Out: &out}
	progs := &recordPrograms{}
	if err := archiveStatus(context.Background(), e, progs, ArchiveStatusArgs{App: "shop"}); err != nil || !strings.Contains(out.String(), "result ok off") {
		t.Errorf("status: %v %q", err, out.String())
	}
	if _, err := archiveVerify(context.Background(), e, progs, "shop"); err == nil || !strings.Contains(err.Error(), "BACKUP_S3_BUCKET") {
		t.Errorf("verify: %v", err)
	}
	if err := archiveCheck(context.Background(), e, []string{"Bad Name"}); err == nil {
		t.Error("archive-check took a bad app name")
	}
	if len(progs.argvs) > 0 {
		t.Errorf("ran %q", progs.argvs)
	}
}
