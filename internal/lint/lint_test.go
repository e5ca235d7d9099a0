package lint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// want is a finding without its message, which the tests pin elsewhere.
type want struct {
	line int
	rule string
}

func assertFindings(t *testing.T, got []Finding, wants ...want) {
	t.Helper()
	var g []want
	for _, f := range got {
		g = append(g, want{f.Line, f.Rule})
	}
	if !slices.Equal(g, wants) {
		t.Fatalf("findings = %v, want %v\nfull: %v", g, wants, got)
	}
}

func TestLinesAreThoseOfTheFile(t *testing.T) {
	src := `-- Adds the plan column.
-- +goose Up

SET lock_timeout = '2s';
/* a comment the parser counts as part of the next statement */
ALTER TABLE users
  ADD COLUMN plan text NOT NULL;  ALTER TABLE users DROP COLUMN legacy;
-- +goose StatementBegin
CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
TRUNCATE sessions;
-- +goose Down
TRUNCATE users;
`
	got := lintFile("migrations/00002_plan.sql", []byte(src))
	assertFindings(t, got,
		want{6, ruleAddColumnNotNull},
		want{7, ruleDropColumn},
		want{13, ruleTruncate},
	)
	if s := got[2].String(); s != "migrations/00002_plan.sql:13: truncate: "+messages[ruleTruncate] {
		t.Errorf("String() = %q", s)
	}
}

// Every message is "what breaks; what to do instead".
func TestEveryMessageNamesASafeAlternative(t *testing.T) {
	for rule := range optOutable {
		_, fix, ok := strings.Cut(messages[rule], "; ")
		if !ok || len(fix) < 20 {
			t.Errorf("%s message names no alternative: %q", rule, messages[rule])
		}
	}
	for _, msg := range []string{msgUniqueConstraint, msgColumnConstraint} {
		if _, fix, ok := strings.Cut(msg, "; "); !ok || len(fix) < 20 {
			t.Errorf("message names no alternative: %q", msg)
		}
	}
}

func TestTableCreatedInTheSameFileHasNoReaders(t *testing.T) {
	src := upFile(`CREATE TABLE public.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
ALTER TABLE users ADD COLUMN org_id bigint NOT NULL REFERENCES orgs (id);
ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email <> '');
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();`)
	assertFindings(t, lintFile("m.sql", []byte(src)))
}

func TestOtherSchemaIsAnotherTable(t *testing.T) {
	src := upFile("CREATE TABLE audit.users (id int);\nCREATE INDEX users_id_idx ON users (id);")
	assertFindings(t, lintFile("m.sql", []byte(src)), want{3, ruleCreateIndex})
}

func TestDownIsNotLinted(t *testing.T) {
	src := "-- +goose Up\nCREATE TABLE t (a int);\n-- +goose Down\nDROP TABLE users;\nTRUNCATE x;\nnot even sql\n"
	assertFindings(t, lintFile("m.sql", []byte(src)))
}

func TestOptOut(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		wants []want
	}{
		{"line before", "-- slipway:allow truncate rows are re-derived nightly\nTRUNCATE cache;", nil},
		{"end of the statement's line", "TRUNCATE cache; -- slipway:allow truncate re-derived nightly", nil},
		{"block comment", "/* slipway:allow truncate re-derived nightly */ TRUNCATE cache;", nil},
		{"inside the statement", "TRUNCATE\n  -- slipway:allow truncate re-derived nightly\n  cache;", nil},
		{"several rules", "-- slipway:allow drop-table,missing-lock-timeout v1.4 stopped reading it\nDROP TABLE old;", nil},
		{"other rule", "-- slipway:allow drop-table wrong rule\nTRUNCATE cache;", []want{{3, ruleTruncate}}},
		{"only the next statement", "-- slipway:allow truncate re-derived nightly\nTRUNCATE cache;\nTRUNCATE sessions;",
			[]want{{4, ruleTruncate}}},
		{"trailing comment is not the next statement's", "TRUNCATE cache; -- slipway:allow truncate nightly\nTRUNCATE sessions;",
			[]want{{3, ruleTruncate}}},
		{"without reason", "-- slipway:allow truncate\nTRUNCATE cache;",
			[]want{{2, ruleAllowWithoutReason}, {3, ruleTruncate}}},
		{"unknown rule", "-- slipway:allow trunkate nightly\nTRUNCATE cache;",
			[]want{{2, ruleAllowUnknownRule}, {3, ruleTruncate}}},
		{"no rule", "-- slipway:allow\nTRUNCATE cache;",
			[]want{{2, ruleAllowUnknownRule}, {3, ruleTruncate}}},
		{"syntax cannot be silenced", "-- slipway:allow syntax it is fine\nSELECT 1;",
			[]want{{2, ruleAllowUnknownRule}}},
		{"in a string it is no comment", "SELECT '-- slipway:allow truncate x';\nTRUNCATE cache;",
			[]want{{3, ruleTruncate}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFindings(t, lintFile("m.sql", []byte(upFile(tt.body))), tt.wants...)
		})
	}
}

func TestSyntaxErrorsAreFindings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
	}{
		{"bad sql", "-- +goose Up\nCREATE TABLE t (a int);\n\nALTER TABLE t ADD COLUMNN b int;\n-- +goose Down\n", 4},
		{"after multibyte text", "-- +goose Up\nINSERT INTO t VALUES ('héllo wörld ☃');\nSELECT FROM WHERE;\n", 3},
		{"unterminated string", "-- +goose Up\nSELECT 1;\nSELECT 'oops;\n", 3},
		{"no up annotation", "CREATE TABLE t (a int);\n", 1},
		{"two up annotations", "-- +goose Up\nSELECT 1;\n-- +goose Up\n", 3},
		{"unknown annotation", "-- +goose Up\n-- +goose Sideways\nSELECT 1;\n", 2},
		{"indented annotation", "-- +goose Up\n  -- +goose StatementBegin\nSELECT 1;\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lintFile("m.sql", []byte(tt.src))
			assertFindings(t, got, want{tt.line, ruleSyntax})
			if got[0].Message == "" {
				t.Error("syntax finding without a message")
			}
		})
	}
}

func TestGooseAnnotations(t *testing.T) {
	t.Run("case-insensitive, NO TRANSACTION anywhere", func(t *testing.T) {
		src := "-- +goose up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (a);\n-- +goose no transaction\n"
		assertFindings(t, lintFile("m.sql", []byte(src)))
	})
	t.Run("ENVSUB placeholders parse without the environment", func(t *testing.T) {
		src := "-- +goose Up\n-- +goose ENVSUB ON\nCREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${APP_PASSWORD}';\n" +
			"GRANT SELECT ON users TO $APP_ROLE;\n-- +goose ENVSUB OFF\n" +
			"-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1 $body$ LANGUAGE sql;\n" +
			"-- +goose StatementEnd\nTRUNCATE cache;\n"
		assertFindings(t, lintFile("m.sql", []byte(src)), want{9, ruleTruncate})
	})
	t.Run("empty Up", func(t *testing.T) {
		assertFindings(t, lintFile("m.sql", []byte("-- +goose Up\n\n-- +goose Down\nDROP TABLE users;\n")))
	})
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		// Version 10 runs after 9: a name sort would check it first.
		"00010_set_not_null.sql": upFile(lt + "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
		"00009_validate.sql":     upFile("ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;"),
		"00008_check.sql": upFile(lt +
			"ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;"),
		"00011_truncate.sql": upFile("TRUNCATE sessions;"),
		"README.md":          "TRUNCATE is not linted here",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != filepath.Join(dir, "00011_truncate.sql") || got[0].Rule != ruleTruncate {
		t.Fatalf("Dir = %v, want one truncate finding in 00011_truncate.sql", got)
	}

	if _, err := Dir(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("Dir on a missing folder: no error")
	}
}

func TestLintFSNamesFilesAsInTheFS(t *testing.T) {
	fsys := fstest.MapFS{
		"00001_users.sql": {Data: []byte(upFile("CREATE TABLE users (id bigint PRIMARY KEY);"))},
		"00002_drop.sql":  {Data: []byte(upFile("DROP TABLE users;"))},
	}
	got, err := lintFS(context.Background(), fsys, func(name string) string { return name })
	if err != nil {
		t.Fatal(err)
	}
	assertFindings(t, got, want{2, ruleDropTable})
	if got[0].Path != "00002_drop.sql" {
		t.Errorf("path = %q", got[0].Path)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lintFS(ctx, fsys, func(name string) string { return name }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled FS = %v, want context.Canceled", err)
	}
}

// The repository's own migrations must ship clean.
func TestRepoMigrations(t *testing.T) {
	got, err := Dir(context.Background(), filepath.Join("..", "..", "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	assertFindings(t, got)
}
