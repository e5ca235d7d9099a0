package envfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadInputIsRefusedInOneLineNamingTheFix(t *testing.T) {
	for _, tc := range []struct {
		ch    Change
		force bool
		want  string
	}{
		{Change{Key: "password_pepper", Value: "x"}, true, "not a setting name"},
		{Change{Key: "1ABC", Value: "x"}, true, "not a setting name"},
		{Change{Key: "SLIPWAY_RELEASE", Value: "x"}, true, "set by systemd or the unit"},
		{Change{Key: "PASWORD_PEPPER", Value: "0123456789abcdefgh"}, false, "add -force"},
		{Change{Key: "PASSWORD_PEPPER", Value: "0123456789abcdef\nX=1"}, false, "line break"},
		{Change{Key: "MY_OWN", Value: "a\rb"}, true, "line break"},
		{Change{Key: "DATABASE_URL", Value: "postgres://app:s3cret@db:notaport/app"}, false, "DATABASE_URL does not parse"},
		{Change{Key: "PASSWORD_PEPPER", Value: "short"}, false, "at least 16"},
		{Change{Key: "DB_WAIT", Value: "soon"}, false, "DB_WAIT"},
		{Change{Key: "DATABASE_URL", Unset: true}, false, "DATABASE_URL is required"},
	} {
		err := tc.ch.Validate(tc.force)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q force=%v: %v, want %q", tc.ch.Key, tc.ch.Value, tc.force, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: the error shows the value: %v", tc.ch.Key, err)
		}
	}
	for _, ok := range []struct {
		ch    Change
		force bool
	}{
		{Change{Key: "PASSWORD_PEPPER", Value: "0123456789abcdef"}, false},
		{Change{Key: "GOMEMLIMIT", Value: "400MiB"}, false},
		{Change{Key: "MY_OWN", Value: "anything at all"}, true},
		{Change{Key: "LOG_FORMAT", Unset: true}, false},
	} {
		if err := ok.ch.Validate(ok.force); err != nil {
			t.Errorf("%s: %v", ok.ch.Key, err)
		}
	}
}

func TestReadValueDropsOneTrailingNewlineAndRefusesNothing(t *testing.T) {
	for in, want := range map[string]string{"s3cret\n": "s3cret", "s3cret": "s3cret", "a b\r\n": "a b", "x\n\n": "x\n"} {
		if got, err := readValue("K", strings.NewReader(in)); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := readValue("K", strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "env:unset") {
		t.Errorf("empty stdin: %v", err)
	}
}

// script runs one of the server scripts here, as the server would (sh -c,
// quoted arguments, stdin), and returns its output.
func script(t *testing.T, s, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", s, "test"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

func TestPrepareReplacesTheFirstAssignmentDropsLaterOnesAndKeepsTheRest(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the script chowns its candidate to root: run as root (CI is)")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "app.env")
	orig := "# comment\nDATABASE_URL=postgres://x@h/db\n  PASSWORD_PEPPER=old\nLOG_FORMAT=json\nPASSWORD_PEPPER=older"
	if err := os.WriteFile(f, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	nasty := `a "b" \c $HOME ` + "`x`" + ` 'q' #h`
	out := script(t, PrepareScript, Encode(nasty)+"\n", f, "PASSWORD_PEPPER", "tag1", "set")
	cand, ok := strings.CutPrefix(strings.TrimSpace(out), "candidate ")
	if !ok || cand != filepath.Join(dir, ".app.env.new-tag1") {
		t.Fatalf("output %q", out)
	}
	b, _ := os.ReadFile(cand)
	want := "# comment\nDATABASE_URL=postgres://x@h/db\nPASSWORD_PEPPER=" + Encode(nasty) + "\nLOG_FORMAT=json\n"
	if string(b) != want {
		t.Errorf("candidate:\n%s\nwant:\n%s", b, want)
	}
	if st, _ := os.Stat(cand); st.Mode().Perm() != 0o600 {
		t.Errorf("candidate mode %v", st.Mode())
	}
	if b, _ := os.ReadFile(f); string(b) != orig {
		t.Error("the env file itself changed")
	}
	// A new key goes at the end; the earlier candidate is gone.
	out = script(t, PrepareScript, "1\n", f, "NO_MIGRATE", "tag2", "set")
	if _, err := os.Stat(cand); !os.IsNotExist(err) {
		t.Error("a leftover candidate stayed")
	}
	b, _ = os.ReadFile(strings.TrimPrefix(strings.TrimSpace(out), "candidate "))
	if !strings.HasSuffix(string(b), "PASSWORD_PEPPER=older\nNO_MIGRATE=1\n") {
		t.Errorf("candidate:\n%s", b)
	}
	out = script(t, PrepareScript, "", f, "LOG_FORMAT", "tag3", "unset")
	b, _ = os.ReadFile(strings.TrimPrefix(strings.TrimSpace(out), "candidate "))
	if strings.Contains(string(b), "LOG_FORMAT") || !strings.Contains(string(b), "DATABASE_URL=") {
		t.Errorf("unset candidate:\n%s", b)
	}
	if out := script(t, PrepareScript, "", f, "NOT_THERE", "tag4", "unset"); strings.TrimSpace(out) != "unchanged" {
		t.Errorf("unset of a missing key: %q", out)
	}
	if out := script(t, PrepareScript, "json\n", f, "LOG_FORMAT", "tag5", "set"); strings.TrimSpace(out) != "unchanged" {
		t.Errorf("set to the value it has: %q", out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".app.env.new-*")); len(m) != 0 {
		t.Errorf("unchanged left candidates: %v", m)
	}
}

func TestNamesAndHashesReadAssignmentsOnlyTheLastWinning(t *testing.T) {
	f := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(f, []byte("# X=1\nA=1\n B=\nA=2\nnot a line\nC=\"x y\""), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := script(t, NamesScript, "", f); got != "set A\nempty B\nset A\nset C" {
		t.Errorf("names: %q", got)
	}
	h1 := script(t, HashScript, "nonce1\n", f)
	lines := strings.Split(strings.TrimSpace(h1), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "A ") || !strings.HasPrefix(lines[3], "C ") {
		t.Fatalf("hashes: %q", h1)
	}
	if strings.Contains(h1, "x y") {
		t.Error("a value in the hash output")
	}
	if h2 := script(t, HashScript, "nonce2\n", f); h2 == h1 {
		t.Error("the nonce changes nothing")
	}
	if got := script(t, HashScript, "n\n", filepath.Join(t.TempDir(), "none")); got != "missing\n" {
		t.Errorf("no file: %q", got)
	}
}

func TestEncodeLeavesSafeValuesBareAndQuotesTheRest(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://a:b@h:5432/db?sslmode=disable": "postgres://a:b@h:5432/db?sslmode=disable",
		"":           "",
		"a b":        `"a b"`,
		`$x"\` + "`": `"\$x\"\\` + "\\`\"",
	} {
		if got := Encode(in); got != want {
			t.Errorf("Encode(%q) = %s, want %s", in, got, want)
		}
	}
}
