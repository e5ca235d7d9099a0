package helper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const relA, relB = "20260101T000000Z-aaaaaaaaaaaa", "20260102T000000Z-bbbbbbbbbbbb"

// writeFiles writes files (path under e.Root → content), folders first.
func writeFiles(t *testing.T, e Env, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := e.Path(p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInspectPrintsTheLayoutAsTheShellDid(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	writeFiles(t, e, map[string]string{
		"/srv/app/releases/" + relA + "/app.sha256":  strings.Repeat("a", 64) + "  app\n",
		"/srv/app/releases/" + relA + "/app.version": "version v1\ncommit c1\n",
		"/srv/app/releases/" + relB + "/app.sha256":  strings.Repeat("b", 64) + "  app\n",
		"/srv/app/releases/not-a-release/app":        "",
		"/srv/app/releases/.upload-" + relB:          "partial",
	})
	if err := os.MkdirAll(e.Path("/srv/app/releases/.new-"+relB), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("releases/"+relB, e.Path("/srv/app/current")); err != nil {
		t.Fatal(err)
	}
	out, rc := runStep(t, e, "inspect", DeployPathArgs{DeployPath: "/srv/app"})
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, out)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "uname ") || len(lines[0]) < 8 {
		t.Errorf("first line %q, want uname <machine>", lines[0])
	}
	want := "current releases/" + relB + "\nprevious \n" +
		"release " + relA + " " + strings.Repeat("a", 64) + "\nversion " + relA + " version v1\nversion " + relA + " commit c1\n" +
		"release " + relB + " " + strings.Repeat("b", 64) + "\n" +
		"upload .new-" + relB + "\nupload .upload-" + relB + "\n"
	if !strings.HasSuffix(out, want) {
		t.Errorf("inspect printed\n%s\nwant it to end with\n%s", out, want)
	}
}

func TestInspectOfAServerWithoutTheDeployPathSaysOnlyTheMachine(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	out, rc := runStep(t, e, "inspect", DeployPathArgs{DeployPath: "/srv/none"})
	if rc != 0 || strings.Contains(out, "current") || !strings.HasPrefix(out, "uname ") {
		t.Fatalf("rc %d, %q", rc, out)
	}
}

// upload puts a copy of a local program as releases/.upload-<id>, and
// returns its SHA-256.
func upload(t *testing.T, e Env, id, program string) string {
	t.Helper()
	b, err := os.ReadFile(program)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, e, map[string]string{"/srv/app/releases/.upload-" + id: string(b)})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestReleaseInstallMakesAReleaseFolderOfAVerifiedUploadThatRuns(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	// echo stands in for the app: `echo version` prints "version".
	sum := upload(t, e, relA, "/bin/echo")
	out, rc := runStep(t, e, "release-install", ReleaseInstallArgs{DeployPath: "/srv/app", ID: relA, SHA256: sum})
	if rc != 0 || out != "version\nresult ok release="+relA+"\n" {
		t.Fatalf("rc %d, %q", rc, out)
	}
	dir := e.Path("/srv/app/releases/" + relA)
	for name, want := range map[string]string{"app.sha256": sum + "  app\n", "app.version": "version\n"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "app")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("app: %v %v", fi, err)
	}
	if left, _ := filepath.Glob(e.Path("/srv/app/releases/.*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	out, rc = runStep(t, e, "release-sha256", ReleaseArgs{DeployPath: "/srv/app", ID: relA})
	if rc != 0 || out != "sha256 "+sum+"\n" {
		t.Errorf("release-sha256: rc %d, %q", rc, out)
	}
}

func TestReleaseInstallRemovesAnUploadThatIsCorruptOrDoesNotRun(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	sum := upload(t, e, relA, "/bin/echo")
	out, rc := runStep(t, e, "release-install", ReleaseInstallArgs{DeployPath: "/srv/app", ID: relA, SHA256: strings.Repeat("0", 64)})
	if rc != 1 || !strings.Contains(out, "sha256 on the server is "+sum+", want 000") || !strings.Contains(out, "upload corrupted, removed") {
		t.Errorf("corrupt: rc %d, %q", rc, out)
	}
	writeFiles(t, e, map[string]string{"/srv/app/releases/.upload-" + relB: "not a program"})
	s := sha256.Sum256([]byte("not a program"))
	out, rc = runStep(t, e, "release-install", ReleaseInstallArgs{DeployPath: "/srv/app", ID: relB, SHA256: hex.EncodeToString(s[:])})
	if rc != 1 || !strings.Contains(out, "the binary does not run on this server") {
		t.Errorf("not a program: rc %d, %q", rc, out)
	}
	if left, _ := os.ReadDir(e.Path("/srv/app/releases")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestReleaseStepsRefuseABadReleaseIDInOneLine(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	out, rc := runStep(t, e, "release-sha256", ReleaseArgs{DeployPath: "/srv/app", ID: "../../etc"})
	if rc != 1 || !strings.HasPrefix(out, `result failed release "../../etc": want an id like`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("rc %d, %q", rc, out)
	}
}

func TestPruneRemovesOnlyOldReleasesAndUploadsNeverCurrent(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	writeFiles(t, e, map[string]string{
		"/srv/app/releases/" + relA + "/app":    "",
		"/srv/app/releases/" + relB + "/app":    "",
		"/srv/app/releases/.upload-" + relB:     "",
		"/srv/app/releases/.new-" + relA + "/x": "",
	})
	if err := os.Symlink("releases/"+relB, e.Path("/srv/app/current")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"releases/" + relB}, {"releases/../current"}, {"deploy.log"}, {"releases/.upload-"}} {
		if out, rc := runStep(t, e, "prune", PruneArgs{DeployPath: "/srv/app", Remove: bad}); rc != 1 || strings.Count(out, "\n") != 1 {
			t.Errorf("prune %v: rc %d, %q", bad, rc, out)
		}
	}
	out, rc := runStep(t, e, "prune", PruneArgs{DeployPath: "/srv/app", Remove: []string{"releases/" + relA, "releases/.upload-" + relB, "releases/.new-" + relA}})
	if rc != 0 {
		t.Fatalf("rc %d, %q", rc, out)
	}
	left, _ := os.ReadDir(e.Path("/srv/app/releases"))
	if len(left) != 1 || left[0].Name() != relB {
		t.Errorf("left %v, want only the current release", left)
	}
}

func TestDeployLogAppendsLinesAndTailReadsTheLast(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	if out, rc := runStep(t, e, "deploy-log-tail", DeployLogTailArgs{DeployPath: "/srv/app", Lines: 2}); rc != 0 || out != "" {
		t.Fatalf("no log: rc %d, %q", rc, out)
	}
	if err := os.MkdirAll(e.Path("/srv/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"one", "two\nlines", "three"} {
		if out, rc := runStep(t, e, "deploy-log", DeployLogArgs{DeployPath: "/srv/app", Line: l}); rc != 0 {
			t.Fatalf("rc %d, %q", rc, out)
		}
	}
	if b, _ := os.ReadFile(e.Path("/srv/app/deploy.log")); string(b) != "one\ntwo lines\nthree\n" {
		t.Errorf("deploy.log %q", b)
	}
	if out, rc := runStep(t, e, "deploy-log-tail", DeployLogTailArgs{DeployPath: "/srv/app", Lines: 2}); rc != 0 || out != "two lines\nthree\n" {
		t.Errorf("tail: rc %d, %q", rc, out)
	}
}

func TestProvisionedNeedsTheEnvFileAndAUnit(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	args := ProvisionedArgs{EnvFile: "/etc/app/app.env", Units: []string{"/etc/systemd/system/app@.service", "/etc/systemd/system/app.service"}}
	say := func() string { out, _ := runStep(t, e, "provisioned", args); return out }
	if s := say(); s != "result ok no\n" {
		t.Errorf("nothing: %q", s)
	}
	writeFiles(t, e, map[string]string{"/etc/app/app.env": ""})
	if s := say(); s != "result ok no\n" {
		t.Errorf("env file only: %q", s)
	}
	writeFiles(t, e, map[string]string{"/etc/systemd/system/app.service": ""})
	if s := say(); s != "result ok yes\n" {
		t.Errorf("env file and the legacy unit: %q", s)
	}
}

// release-dir makes DEPLOY_PATH/releases (and DEPLOY_PATH) when missing,
// and refuses a path that is not a clean absolute one.
func TestReleaseDirMakesTheReleasesFolderOnce(t *testing.T) {
	root := t.TempDir()
	e := &Env{Root: root, Sys: NewFakeSystemd()}
	for range 2 {
		if err := releaseDirStep(context.Background(), e, DeployPathArgs{DeployPath: "/srv/app"}); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "srv/app/releases")); err != nil || !fi.IsDir() {
		t.Fatalf("releases: %v", err)
	}
	if err := releaseDirStep(context.Background(), e, DeployPathArgs{DeployPath: "srv/../etc"}); err == nil {
		t.Error("a relative deploy path was accepted")
	}
}
