package backup

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseStatusCountsPendingAndTheLatestVersion(t *testing.T) {
	out := []byte(`VERSION  STATE    APPLIED AT (UTC)     FILE
1        applied  2026-01-02 03:04:05  00001_create_users.sql
2        applied  2026-01-02 03:04:05  00002_admin_sessions.sql
3        pending  -                    00003_login_failures_device.sql
4        pending  -                    00004_more.sql
`)
	m, err := parseStatus(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, Migrations{Latest: 4, Applied: 2, Pending: 2, PendingFiles: []string{"00003_login_failures_device.sql", "00004_more.sql"}}) {
		t.Errorf("got %+v", m)
	}
	if _, err := parseStatus([]byte("database unreachable\n")); err == nil {
		t.Error("no rows parsed as no migrations pending")
	}
}

func TestListAndFind(t *testing.T) {
	list := parseList([]byte("backup 20260102T030405Z-0123456789ab file_size=100 when=2026-01-02T03:04:05Z size=100 schema=3 release=20260101T000000Z-aaaaaaaaaaaa kind=deploy duration_ms=250 database=app \n" +
		"backup 20260101T000000Z-manual file_size=50 \n"))
	if len(list) != 2 || list[0].Schema != 3 || list[0].Kind != KindDeploy || list[0].Duration.Milliseconds() != 250 || list[1].Size != 50 {
		t.Fatalf("parsed %+v", list)
	}
	if _, err := Find(list, "20260101T000000Z-manual", "h"); err != nil {
		t.Error(err)
	}
	_, err := Find(list, "nope", "h")
	if err == nil || !strings.Contains(err.Error(), "20260102T030405Z-0123456789ab, 20260101T000000Z-manual") {
		t.Errorf("unknown id: %v", err)
	}
	if got := FreeID(list, "20260102T030405Z-0123456789ab"); got != "20260102T030405Z-0123456789ab-2" {
		t.Errorf("FreeID = %s", got)
	}
}

func TestResultReadsTheLastResultLine(t *testing.T) {
	kv, err := result([]byte("step a\nresult ok id=x size=10\n"))
	if err != nil || kv["size"] != "10" {
		t.Errorf("%v %v", kv, err)
	}
	if _, err := result([]byte("result failed only 3 MiB free\n")); err == nil || err.Error() != "only 3 MiB free" {
		t.Errorf("failure: %v", err)
	}
	if _, err := result([]byte("nothing\n")); err == nil {
		t.Error("no result line accepted")
	}
}
