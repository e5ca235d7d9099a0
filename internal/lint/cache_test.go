package lint

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// cacheRun lints dir with and without the cache, checks they agree, and
// returns the findings and how many files the cached run parsed.
func cacheRun(t *testing.T, dir, cache string) ([]Finding, int64) {
	t.Helper()
	want, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	before := parses.Load()
	got, err := Dir(context.Background(), dir, WithCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	parsed := parses.Load() - before
	if !slices.Equal(got, want) {
		t.Fatalf("cached findings differ:\n got %v\nwant %v", got, want)
	}
	return got, parsed
}

func writeMigration(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(upFile(body)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCacheParsesOnlyWhatChanged(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	writeMigration(t, dir, "00001_users.sql", "CREATE TABLE users (id int, name varchar(50));")
	writeMigration(t, dir, "00002_idx.sql", "CREATE INDEX users_name_idx ON users (name);")
	writeMigration(t, dir, "00003_wide.sql", lt+"ALTER TABLE users ALTER COLUMN name TYPE varchar(100);")

	first, parsed := cacheRun(t, dir, cache)
	if parsed != 3 || len(first) == 0 {
		t.Fatalf("cold run parsed %d files, found %v", parsed, first)
	}
	if _, parsed := cacheRun(t, dir, cache); parsed != 0 {
		t.Errorf("unchanged folder: parsed %d files, want 0", parsed)
	}

	// A new file resumes from the state saved after the last one: the
	// column's type is still known.
	writeMigration(t, dir, "00004_narrow.sql", lt+"ALTER TABLE users ALTER COLUMN name TYPE varchar(10);")
	got, parsed := cacheRun(t, dir, cache)
	if parsed != 1 {
		t.Errorf("one new file: parsed %d files, want 1", parsed)
	}
	if !slices.ContainsFunc(got, func(f Finding) bool {
		return f.Rule == ruleChangeColumnType && f.Line == 3 && filepath.Base(f.Path) == "00004_narrow.sql"
	}) {
		t.Errorf("narrowing after a cached prefix not flagged: %v", got)
	}

	// Editing the newest file resumes from the state saved before it.
	writeMigration(t, dir, "00004_narrow.sql", lt+"ALTER TABLE users ALTER COLUMN name TYPE text;")
	if _, parsed := cacheRun(t, dir, cache); parsed != 1 {
		t.Errorf("edited newest file: parsed %d files, want 1", parsed)
	}
}

// What an earlier file declares changes a later, unchanged file's findings:
// the cache must not answer for the later file from before the edit.
func TestCacheFollowsEarlierFiles(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	writeMigration(t, dir, "00001_users.sql", "CREATE TABLE users (id int, name varchar(50));")
	writeMigration(t, dir, "00002_other.sql", "CREATE TABLE other (id int);")
	writeMigration(t, dir, "00003_wide.sql", lt+"ALTER TABLE users ALTER COLUMN name TYPE varchar(100);")
	if got, _ := cacheRun(t, dir, cache); len(got) != 0 {
		t.Fatalf("widening flagged: %v", got)
	}
	writeMigration(t, dir, "00001_users.sql", "CREATE TABLE users (id int, name varchar(500));")
	got, _ := cacheRun(t, dir, cache)
	if len(got) != 1 || got[0].Rule != ruleChangeColumnType {
		t.Errorf("after the earlier file changed, got %v, want the narrowing flagged", got)
	}
	// Renaming an earlier file reorders nothing but is part of the key too.
	if err := os.Rename(filepath.Join(dir, "00002_other.sql"), filepath.Join(dir, "00002_others.sql")); err != nil {
		t.Fatal(err)
	}
	cacheRun(t, dir, cache)
}

func TestCacheDamagedEntriesAreMisses(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	writeMigration(t, dir, "00001_trunc.sql", lt+"TRUNCATE sessions;")
	writeMigration(t, dir, "00002_drop.sql", lt+"DROP TABLE users;")
	cacheRun(t, dir, cache)
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache is empty: %v", err)
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(cache, e.Name()), []byte(`{"keys":[`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, parsed := cacheRun(t, dir, cache); parsed != 2 {
		t.Errorf("damaged cache: parsed %d files, want 2", parsed)
	}
}

func TestCacheKeepsEachFolderApart(t *testing.T) {
	a, b, cache := t.TempDir(), t.TempDir(), t.TempDir()
	writeMigration(t, a, "00001_trunc.sql", lt+"TRUNCATE sessions;")
	writeMigration(t, b, "00001_drop.sql", lt+"DROP TABLE users;")
	cacheRun(t, a, cache)
	cacheRun(t, b, cache)
	got, parsed := cacheRun(t, a, cache)
	if parsed != 0 || len(got) != 1 || got[0].Path != filepath.Join(a, "00001_trunc.sql") {
		t.Errorf("first folder again: parsed %d, got %v", parsed, got)
	}
}

func TestCacheUnwritableIsNoError(t *testing.T) {
	dir := t.TempDir()
	writeMigration(t, dir, "00001_trunc.sql", lt+"TRUNCATE sessions;")
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := cacheRun(t, dir, filepath.Join(blocker, "cache")); len(got) != 1 {
		t.Errorf("got %v", got)
	}
}

func TestCachePrunesOldEntries(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	stale := filepath.Join(cache, "stale.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-packTTL - time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	writeMigration(t, dir, "00001_trunc.sql", lt+"TRUNCATE sessions;")
	cacheRun(t, dir, cache)
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale cache file not pruned")
	}
}

// The state saved before the newest file must not hold what the newest file
// did: editing it would otherwise be checked against its own old version.
func TestCacheStateBeforeTheNewestFileIsItsOwn(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	writeMigration(t, dir, "00001_users.sql", "CREATE TABLE users (id int, email text);")
	writeMigration(t, dir, "00002_other.sql", "CREATE TABLE other (id int);")
	writeMigration(t, dir, "00003_check.sql", lt+
		"ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL);")
	cacheRun(t, dir, cache)
	writeMigration(t, dir, "00003_check.sql", lt+"ALTER TABLE users ALTER COLUMN email SET NOT NULL;")
	got, parsed := cacheRun(t, dir, cache)
	if parsed != 1 || len(got) != 1 || got[0].Rule != ruleSetNotNull {
		t.Errorf("parsed %d, got %v, want only set-not-null", parsed, got)
	}
}
