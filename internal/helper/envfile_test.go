package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const envPath = "/etc/app/app.env"

func envEnv(t *testing.T, text string) Env {
	t.Helper()
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	writeFiles(t, e, map[string]string{envPath: text})
	return e
}

func TestEnvReadSendsNamesHashesOrValuesAsSystemdReadsThem(t *testing.T) {
	secret := `p$ss "w\rd`
	e := envEnv(t, "# c\nDATABASE_URL = \"p\\$ss \\\"w\\\\rd\"\nEMPTY=\nexport X=1\nDATABASE_URL=\"p\\$ss \\\"w\\\\rd\"\n")
	out, rc := runStep(t, e, "env-read", EnvReadArgs{EnvFile: envPath, Show: EnvNames})
	if rc != 0 || !strings.HasPrefix(out, "var DATABASE_URL set\nvar EMPTY empty\nskipped 4 ") || strings.Count(out, "\n") != 3 {
		t.Fatalf("names: rc %d, %q", rc, out)
	}
	if strings.Contains(out, "p$ss") {
		t.Errorf("names carry a value: %q", out)
	}
	out, _ = runStep(t, e, "env-read", EnvReadArgs{EnvFile: envPath, Show: EnvValues})
	if !strings.Contains(out, "var DATABASE_URL "+`"p$ss \"w\\rd"`+"\n") {
		t.Errorf("values: %q, want %s quoted", out, secret)
	}
	salt := strings.Repeat("s", 16)
	sums := func(text, salt string) string {
		e := envEnv(t, text)
		out, rc := runStep(t, e, "env-read", EnvReadArgs{EnvFile: envPath, Show: EnvSums, Salt: salt})
		if rc != 0 || strings.Contains(out, "p$ss") {
			t.Fatalf("sums: rc %d, %q", rc, out)
		}
		return out
	}
	// `KEY = "v"` and KEY=v are the same value to systemd, so to env:diff.
	if a, b := sums("A = \"v w\"\n", salt), sums("A=v\\ w\n", salt); a != b {
		t.Errorf("the same value hashes differently: %q %q", a, b)
	}
	if a, b := sums("A=v\n", salt), sums("A=w\n", salt); a == b {
		t.Errorf("different values hash the same: %q", a)
	}
	if a, b := sums("A=v\n", salt), sums("A=v\n", strings.Repeat("t", 16)); a == b {
		t.Errorf("the salt does not key the hash: %q", a)
	}
}

func TestEnvReadOfAServerWithoutTheFileSaysMissing(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	if out, rc := runStep(t, e, "env-read", EnvReadArgs{EnvFile: envPath, Show: EnvNames}); rc != 0 || out != "result missing "+envPath+"\n" {
		t.Fatalf("rc %d, %q", rc, out)
	}
}

func TestEnvPrepareWritesARootOnlyCandidateWithOnlyTheChange(t *testing.T) {
	orig := "# comment\nDATABASE_URL=postgres://x@h/db\nA = \"1\"\n"
	e := envEnv(t, orig)
	writeFiles(t, e, map[string]string{"/etc/app/.app.env.new-old": "left by a change that died"})
	out, rc := runStep(t, e, "env-prepare", EnvPrepareArgs{EnvFile: envPath, Tag: "t1", Key: "A", Value: "a b$"})
	if rc != 0 || out != "candidate /etc/app/.app.env.new-t1\nresult ok changed\n" {
		t.Fatalf("rc %d, %q", rc, out)
	}
	cand := e.Path("/etc/app/.app.env.new-t1")
	if b, _ := os.ReadFile(cand); string(b) != "# comment\nDATABASE_URL=postgres://x@h/db\nA=\"a b\\$\"\n" {
		t.Errorf("candidate %q", b)
	}
	if st, _ := os.Stat(cand); st.Mode().Perm() != 0o600 {
		t.Errorf("candidate mode %v", st.Mode())
	}
	if b, _ := os.ReadFile(e.Path(envPath)); string(b) != orig {
		t.Error("the env file itself changed")
	}
	if m, _ := filepath.Glob(e.Path("/etc/app/.app.env.new-old")); len(m) != 0 {
		t.Error("the dead change's candidate is still there")
	}
	args := EnvCandidateArgs{EnvFile: envPath, Candidate: "/etc/app/.app.env.new-t1"}
	if out, rc := runStep(t, e, "env-install", args); rc != 0 {
		t.Fatalf("install: rc %d, %q", rc, out)
	}
	if b, _ := os.ReadFile(e.Path(envPath)); !strings.Contains(string(b), `A="a b\$"`) {
		t.Errorf("installed %q", b)
	}
	if _, err := os.Stat(cand); !os.IsNotExist(err) {
		t.Errorf("the candidate is still there: %v", err)
	}
	out, _ = runStep(t, e, "env-prepare", EnvPrepareArgs{EnvFile: envPath, Tag: "t2", Key: "A", Value: "a b$"})
	if out != "result ok unchanged\n" {
		t.Errorf("a value already so: %q", out)
	}
}

func TestEnvPrepareRefusesAFileSystemdWouldNotReadAsIs(t *testing.T) {
	e := envEnv(t, "A=\"open quote\n")
	out, rc := runStep(t, e, "env-prepare", EnvPrepareArgs{EnvFile: envPath, Tag: "t1", Key: "B", Value: "x"})
	if rc != 1 || !strings.HasPrefix(out, "result failed /etc/app/app.env: the quote opened on line 1 is never closed") || strings.Count(out, "\n") != 1 {
		t.Fatalf("rc %d, %q", rc, out)
	}
}

func TestEnvCandidateStepsTouchOnlyCandidatesOfTheEnvFile(t *testing.T) {
	e := envEnv(t, "A=1\n")
	for _, c := range []string{envPath, "/etc/passwd", "/etc/app/.app.env.new-../../x", "/etc/other/.app.env.new-t1"} {
		for _, step := range []string{"env-discard", "env-install"} {
			out, rc := runStep(t, e, step, EnvCandidateArgs{EnvFile: envPath, Candidate: c})
			if rc != 1 || !strings.Contains(out, "is not a candidate of "+envPath) {
				t.Errorf("%s %s: rc %d, %q", step, c, rc, out)
			}
		}
	}
	if b, _ := os.ReadFile(e.Path(envPath)); string(b) != "A=1\n" {
		t.Errorf("env file %q", b)
	}
}
