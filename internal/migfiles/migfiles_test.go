package migfiles

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/migfiles/migfilestest"
)

const upDown = "-- +goose Up\nSELECT 1;\n\n-- +goose Down\nSELECT 1;\n"

// fix numbers dir and records migrations.sum, as fixMigrations -rehash
// does, failing the test on any error.
func fix(t *testing.T, dir string) {
	t.Helper()
	p, err := PlanFix(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(nil); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseNameFollowsGoose(t *testing.T) {
	for name, want := range map[string]File{
		"00001_create_users.sql":          {Version: 1, Kind: Sequential},
		"3_x.sql":                         {Version: 3, Kind: Sequential},
		"20260102150405_add_orders.sql":   {Version: 20260102150405, Kind: Timestamp},
		"20260102150405_add_orders_2.sql": {Version: 20260102150405, Kind: Timestamp},
	} {
		got, err := ParseName(name)
		want.Name = name
		if err != nil || got != want {
			t.Errorf("ParseName(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	for _, name := range []string{"add_orders.sql", "00001.sql", "+1_x.sql", "0_x.sql", "x.sql", "00001_x.txt", "20261399000000_typo.sql"} {
		if f, err := ParseName(name); err == nil {
			t.Errorf("ParseName(%q) = %+v, want an error", name, f)
		}
	}
}

func TestCreateWritesGooseTemplateWithUTCTimestamp(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	path, err := Create(dir, "add_orders", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "20260304040607_add_orders.sql"); path != want {
		t.Fatalf("Create = %s, want %s (UTC)", path, want)
	}
	src := read(t, path)
	if !strings.Contains(src, "-- +goose Up") || !strings.Contains(src, "-- +goose Down") {
		t.Errorf("no Up and Down sections:\n%s", src)
	}
	if se := checkSyntax([]byte(src)); se != nil {
		t.Errorf("template does not parse: %+v", se)
	}
	// Same second again: the next free second, never a duplicate version.
	path2, err := Create(dir, "add_items", now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path2) != "20260304040608_add_items.sql" {
		t.Errorf("second Create in the same second = %s", filepath.Base(path2))
	}
}

func TestCreateRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "add orders", "../escape", "a/b", `a\b`, "AddOrders", "add-orders", "_x", "x__y", strings.Repeat("x", 101)} {
		if path, err := Create(dir, name, time.Now()); err == nil {
			t.Errorf("Create(%q) = %s, want a refusal", name, path)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("Create(%q): want one line, got %q", name, err)
		}
	}
	if n := migfilestest.Names(t, dir); len(n) != 0 {
		t.Errorf("refused names created files: %v", n)
	}
}

func TestPlanFixNumbersTimestampsAfterTheLastNumbered(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{
		"00001_create_users.sql":        upDown,
		"20260102000000_add_orders.sql": upDown + "-- orders\n",
		"20260101000000_add_items.sql":  upDown + "-- items\n",
		"migrations.go":                 "package migrations\n",
	})
	p, err := PlanFix(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rename{
		{From: "20260101000000_add_items.sql", To: "00002_add_items.sql", FromVersion: 20260101000000, ToVersion: 2},
		{From: "20260102000000_add_orders.sql", To: "00003_add_orders.sql", FromVersion: 20260102000000, ToVersion: 3},
	}
	if !slices.Equal(p.Renames, want) {
		t.Fatalf("renames = %+v, want %+v", p.Renames, want)
	}
	if err := p.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got := migfilestest.Names(t, dir); !slices.Equal(got, []string{"00001_create_users.sql", "00002_add_items.sql", "00003_add_orders.sql", "migrations.go", SumFile}) {
		t.Fatalf("folder after fix: %v", got)
	}
	if read(t, filepath.Join(dir, "00003_add_orders.sql")) != upDown+"-- orders\n" {
		t.Error("content changed by the rename")
	}
	problems, err := Check(context.Background(), dir)
	if err != nil || len(problems) > 0 {
		t.Fatalf("Check after fix: %v %v", problems, err)
	}
	again, err := PlanFix(dir, false)
	if err != nil || again.Changes() {
		t.Fatalf("second PlanFix: changes=%v err=%v, want nothing to do", again != nil && again.Changes(), err)
	}
}

func TestPlanFixKeepsRecordedHashesAndAddsNewOnes(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown})
	fix(t, dir)
	// Edit the numbered file, add a timestamp one: fix records the new file
	// and leaves the edited one to checkMigrations.
	os.WriteFile(filepath.Join(dir, "00001_a.sql"), []byte(upDown+"-- edited\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "20260101000000_b.sql"), []byte(upDown), 0o644)
	p, err := PlanFix(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Recorded, []string{"00002_b.sql"}) {
		t.Errorf("recorded %v, want only the newly numbered file", p.Recorded)
	}
	if err := p.Apply(nil); err != nil {
		t.Fatal(err)
	}
	problems, _ := Check(context.Background(), dir)
	if len(problems) != 1 || problems[0].File != filepath.Join(dir, "00001_a.sql") || !strings.Contains(problems[0].Msg, "edited after it was numbered") {
		t.Fatalf("Check: %v, want the edited 00001_a.sql", problems)
	}
}

func TestPlanFixReportsEveryProblemAndRenamesNothing(t *testing.T) {
	files := map[string]string{
		"00001_a.sql":                upDown,
		"00003_c.sql":                upDown, // gap: 00002 missing
		"20260101000000_x.sql":       upDown,
		"20260101000000_y.sql":       upDown, // duplicate version: goose.Fix panics
		"add_orders.sql":             upDown, // no version
		"20261399000000_typo.sql":    upDown, // not a timestamp
		"20260105000000_clash_z.sql": upDown,
	}
	dir := migfilestest.Folder(t, files)
	before := migfilestest.Names(t, dir)
	_, err := PlanFix(dir, false)
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("PlanFix = %v, want *ProblemsError", err)
	}
	msg := err.Error()
	for _, want := range []string{"00003_c.sql: versions are not contiguous", "20260101000000_y.sql: version 20260101000000 is also used by 20260101000000_x.sql", "add_orders.sql: file name does not parse", "20261399000000_typo.sql: file name does not parse"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if len(pe.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(pe.Problems), msg)
	}
	if after := migfilestest.Names(t, dir); !slices.Equal(before, after) {
		t.Errorf("folder changed: %v -> %v", before, after)
	}
}

func TestPlanFixRefusesATakenName(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown, "20260101000000_b.sql": upDown})
	os.Mkdir(filepath.Join(dir, "00002_b.sql"), 0o755) // not a migration, but in the way
	if _, err := PlanFix(dir, false); err == nil || !strings.Contains(err.Error(), "would become 00002_b.sql, which already exists") {
		t.Fatalf("PlanFix = %v, want the clash reported", err)
	}
}

func TestApplyUndoesEverythingWhenCommitFails(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown, "20260101000000_b.sql": upDown, "20260102000000_c.sql": upDown})
	p, err := PlanFix(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	before := migfilestest.Names(t, dir)
	boom := errors.New("commit failed")
	if err := p.Apply(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Apply = %v, want the commit error", err)
	}
	if after := migfilestest.Names(t, dir); !slices.Equal(before, after) {
		t.Errorf("folder not restored: %v -> %v", before, after)
	}
}

func TestCheckAcceptsTheRepoMigrations(t *testing.T) {
	problems, err := Check(context.Background(), "../../migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestCheckNamesFileAndFixOnEachLine(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown, "00002_b.sql": upDown})
	fix(t, dir)
	os.WriteFile(filepath.Join(dir, "00002_b.sql"), []byte(upDown+"-- edited\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "20260101000000_c.sql"), []byte(upDown), 0o644)
	os.WriteFile(filepath.Join(dir, "00004_d.sql"), []byte("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nSELECT 1;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "00005_e.sql"), []byte("SELECT 1;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "00006_f.sql"), []byte("-- +goose Up\n-- +goose Sideways\nSELECT 1;\n"), 0o644)
	problems, err := Check(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"20260101000000_c.sql: timestamp version, still in development: number it with go run mage.go fixMigrations before merge",
		"00004_d.sql: versions are not contiguous from 1: 00003 missing before it",
		"00002_b.sql: edited after it was numbered",
		"00004_d.sql:2: goose can't parse it: -- +goose StatementBegin has no StatementEnd",
		"00005_e.sql:1: goose can't parse it: SQL before -- +goose Up",
		`00006_f.sql:2: goose can't parse it: unknown goose annotation "-- +goose Sideways"`,
		"00006_f.sql: numbered but not recorded in migrations.sum",
	}
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.String())
		if p.Fix == "" {
			t.Errorf("no fix in %q", p)
		}
	}
	all := strings.Join(lines, "\n")
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in:\n%s", w, all)
		}
	}
	if strings.Count(all, "00005_e.sql:1:") != 1 {
		t.Errorf("a goose parse failure is reported twice (linter too):\n%s", all)
	}
}

func TestRehashAcceptsAnIntendedEdit(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown})
	for range 2 {
		fix(t, dir)
		os.WriteFile(filepath.Join(dir, "00001_a.sql"), []byte(upDown+"-- edited\n"), 0o644)
	}
	if problems, _ := Check(context.Background(), dir); len(problems) != 0 {
		t.Fatalf("after -rehash: %v", problems)
	}
}

func TestSumEditedByHandIsCaught(t *testing.T) {
	dir := migfilestest.Folder(t, map[string]string{"00001_a.sql": upDown})
	fix(t, dir)
	sumPath := filepath.Join(dir, SumFile)
	// Record a hand edit of the file in the sum, without the total.
	os.WriteFile(filepath.Join(dir, "00001_a.sql"), []byte(upDown+"-- edited\n"), 0o644)
	lines := strings.Split(read(t, sumPath), "\n")
	lines[1] = "00001_a.sql " + hashOf([]byte(upDown+"-- edited\n"))
	os.WriteFile(sumPath, []byte(strings.Join(lines, "\n")), 0o644)
	problems, _ := Check(context.Background(), dir)
	if len(problems) != 1 || !strings.Contains(problems[0].String(), "migrations.sum:1: edited by hand") {
		t.Fatalf("Check = %v, want the hand-edited sum", problems)
	}
	// fixMigrations without -rehash won't re-total it.
	if _, err := PlanFix(dir, false); err == nil {
		t.Fatal("PlanFix accepted a hand-edited sum")
	}
}

func TestSumFormat(t *testing.T) {
	s := sum{"00010_b.sql": "h1:B", "00002_a.sql": "h1:A"}
	got := string(s.bytes())
	body := "00002_a.sql h1:A\n00010_b.sql h1:B\n"
	if got != hashOf([]byte(body))+"\n"+body {
		t.Errorf("sum file:\n%s", got)
	}
}
