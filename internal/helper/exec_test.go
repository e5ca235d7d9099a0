package helper

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func execUnit() UnitArgs {
	return UnitArgs{Description: "app exec", Properties: []string{"User=app", "Group=app", "EnvironmentFile=/etc/app/app.env", "ProtectSystem=strict"}}
}

func TestExecRunsExecAppInTheServicesUnitWithNoArgumentOnItsCommandLine(t *testing.T) {
	f := NewFakeSystemd()
	e := Env{Root: t.TempDir(), Sys: f, Self: "/usr/local/lib/slipway/slipway-helper-abc"}
	out, rc := runStepIn(t, e, "exec", ExecArgs{Unit: execUnit()}, `{"protocol":1,"step":"exec-app","args":{"binary":"/srv/app/current/app","args":["secret-marker"]}}`+"\n")
	if rc != 0 || out != "" {
		t.Fatalf("rc %d, %q", rc, out)
	}
	if len(f.Transients) != 1 {
		t.Fatalf("units started: %v", f.Called())
	}
	u := f.Transients[0]
	if !slices.Equal(u.Cmd, []string{e.Self, "exec-app"}) || u.Description != "app exec" {
		t.Errorf("unit %+v", u)
	}
	for _, want := range append([]string{"Type=exec"}, execUnit().Properties...) {
		if !slices.Contains(u.Properties, want) {
			t.Errorf("unit lacks %s: %v", want, u.Properties)
		}
	}
	if strings.Contains(strings.Join(append(u.Properties, u.Cmd...), " "), "secret-marker") {
		t.Error("the arguments are on the unit's command line or in a property")
	}
}

func TestExecRefusesAUnitThatIsNotTheServices(t *testing.T) {
	for name, u := range map[string]UnitArgs{
		"no user":   {Description: "app exec", Properties: []string{"ProtectSystem=strict"}},
		"root":      {Description: "app exec", Properties: []string{"User=root"}},
		"bad prop":  {Description: "app exec", Properties: []string{"User=app", "ExecStartPre=/bin/x\nUser=root"}},
		"long desc": {Description: "app exec $(x)", Properties: []string{"User=app"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := NewFakeSystemd()
			out, rc := runStep(t, Env{Root: t.TempDir(), Sys: f}, "exec", ExecArgs{Unit: u})
			if rc != 1 || strings.Count(out, "\n") != 1 || len(f.Called()) != 0 {
				t.Fatalf("rc %d, %q, calls %v", rc, out, f.Called())
			}
		})
	}
}

func TestExecAppHandsTheArgumentsInTheEnvironmentToABinaryThatReadsThem(t *testing.T) {
	dir := t.TempDir()
	reads, old := filepath.Join(dir, "new"), filepath.Join(dir, "old")
	// The name across a 1 MiB read boundary still counts.
	body := strings.Repeat("x", 1<<20-5) + ExecArgsEnv + "tail"
	if err := os.WriteFile(reads, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("no such name here"), 0o755); err != nil {
		t.Fatal(err)
	}
	environ := []string{"PATH=/usr/bin", ExecArgsEnv + "=forged"}
	argv, env, err := appInvocation(reads, []string{"admin", "", "a b$"}, environ)
	if err != nil || !slices.Equal(argv, []string{reads}) || !slices.Equal(env, []string{"PATH=/usr/bin", ExecArgsEnv + "=61646d696e  61206224 "}) {
		t.Errorf("a binary that reads %s: argv %q env %q %v", ExecArgsEnv, argv, env, err)
	}
	argv, env, err = appInvocation(old, []string{"a b", "$x", ""}, environ)
	if err != nil || !slices.Equal(argv, []string{old, "a b", "$x", ""}) || !slices.Equal(env, []string{"PATH=/usr/bin"}) {
		t.Errorf("an older binary: argv %q env %q %v", argv, env, err)
	}
}

// exec-app replaces itself with the app, the arguments in the environment
// for a binary that reads them there; a relative or odd path is refused
// before anything runs.
func TestExecAppStepExecsTheAppWithItsArguments(t *testing.T) {
	root := t.TempDir()
	bin := "/srv/app/releases/r1/app"
	if err := os.MkdirAll(filepath.Join(root, "srv/app/releases/r1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, bin), []byte("..."+ExecArgsEnv+"..."), 0o755); err != nil {
		t.Fatal(err)
	}
	var path string
	var argv, env []string
	e := &Env{Root: root, Sys: NewFakeSystemd(), exec: func(p string, a, en []string) error { path, argv, env = p, a, en; return nil }}
	if err := execAppStep(context.Background(), e, ExecAppArgs{Binary: bin, Args: []string{"admin", "create"}}); err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(root, bin) || !slices.Equal(argv, []string{bin}) || !slices.Contains(env, ExecArgsEnv+"=61646d696e 637265617465 ") {
		t.Errorf("exec %s %q, env has %s: %v", path, argv, ExecArgsEnv, slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, ExecArgsEnv) }))
	}
	e.exec = func(string, []string, []string) error { t.Error("exec'd a refused binary"); return nil }
	if err := execAppStep(context.Background(), e, ExecAppArgs{Binary: "srv/app/releases/r1/app"}); err == nil {
		t.Error("a relative binary path was accepted")
	}
}
