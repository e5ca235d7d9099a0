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
		{Change{Key: "MY_OWN", Value: "caf\xe9"}, true, "not valid UTF-8"},
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

func TestPrepareWritesTheCandidateOnlyOverTheFileItWasMadeFrom(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the script chowns its candidate to root: run as root (CI is)")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "app.env")
	orig := []byte("# comment\nDATABASE_URL=postgres://x@h/db\n")
	if err := os.WriteFile(f, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	cand := "A=\"\x01 \xff\"\r\nB=2\n" // bytes as they are, no line of its own needed
	out := script(t, PrepareScript, Sum(orig)+"\n"+cand, f, "tag1")
	path, ok := strings.CutPrefix(strings.TrimSpace(out), "candidate ")
	if !ok || path != filepath.Join(dir, ".app.env.new-tag1") {
		t.Fatalf("output %q", out)
	}
	if b, _ := os.ReadFile(path); string(b) != cand {
		t.Errorf("candidate %q, want %q", b, cand)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("candidate mode %v", st.Mode())
	}
	if b, _ := os.ReadFile(f); string(b) != string(orig) {
		t.Error("the env file itself changed")
	}
	// The file changed since it was read: refused, the earlier candidate gone.
	cmd := exec.Command("sh", "-c", PrepareScript, "test", f, "tag2")
	cmd.Stdin = strings.NewReader(Sum([]byte("other")) + "\n" + cand)
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "changed while this ran") {
		t.Errorf("a stale read: %v %s", err, b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".app.env.new-*")); len(m) != 0 {
		t.Errorf("candidates left: %v", m)
	}
}

func TestReadScriptBringsTheBytesAsTheyAre(t *testing.T) {
	f := filepath.Join(t.TempDir(), "app.env")
	text := []byte("A=\x1b[31m\xff\r\n\x00B=2")
	if err := os.WriteFile(f, text, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRead(script(t, ReadScript, "", f))
	if err != nil || string(got) != string(text) {
		t.Errorf("%q %v, want %q", got, err, text)
	}
	if _, err := DecodeRead(script(t, ReadScript, "", f+".none")); err != ErrMissing {
		t.Errorf("no file: %v", err)
	}
	// Cut short on the way (remote.MaxOutput): refused, never a shorter file.
	if _, err := DecodeRead("file 10\nQUJD\n"); err == nil || !strings.Contains(err.Error(), "3 bytes arrived of 10") {
		t.Errorf("a short read: %v", err)
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

// An app that reads its database URL under its own name (targets.Project's
// DatabaseURL) gets the same guard for it as DATABASE_URL: required, must
// parse, no -force needed.
func TestTheAppsOwnDatabaseURLNameIsGuardedAsDatabaseURL(t *testing.T) {
	ok := Change{Key: "SHOP_DATABASE_URL", Value: "postgres://shop@localhost/shop", DatabaseURL: "SHOP_DATABASE_URL"}
	if err := ok.Validate(false); err != nil {
		t.Errorf("a valid URL under the app's name: %v", err)
	}
	for _, c := range []struct {
		ch   Change
		want string
	}{
		{Change{Key: "SHOP_DATABASE_URL", Unset: true, DatabaseURL: "SHOP_DATABASE_URL"}, "env: SHOP_DATABASE_URL is required"},
		{Change{Key: "SHOP_DATABASE_URL", Value: "postgres://a b@:x", DatabaseURL: "SHOP_DATABASE_URL"}, "env: SHOP_DATABASE_URL refused, nothing was written: SHOP_DATABASE_URL does not parse"},
		{Change{Key: "SHOP_DATABASE_URL", Value: "postgres://x\n", DatabaseURL: "SHOP_DATABASE_URL"}, "env: the value of SHOP_DATABASE_URL holds a line break"},
	} {
		err := c.ch.Validate(false)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q...", c.ch, err, c.want)
		}
	}
}
