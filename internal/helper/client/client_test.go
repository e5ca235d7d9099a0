package client

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

func dial(t *testing.T) *remote.Client {
	t.Helper()
	srv := sshdtest.Start(t)
	c, err := remote.Dial(context.Background(), remote.Options{Alias: srv.Alias, ConfigPath: srv.ConfigPath, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBuildIsReproducibleAndCachedPerProcess(t *testing.T) {
	a, err := Build(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if a.GOARCH != "amd64" || len(a.SHA256) != 64 {
		t.Fatalf("binary %+v: want amd64 and its SHA-256", a)
	}
	b, _ := Build(context.Background(), "amd64")
	if b != a {
		t.Fatalf("second build %+v, want the first %+v", b, a)
	}
	// Reproducible: another build (this process forgets the first) gives
	// the same checksum, so a server never gets a second copy of it.
	buildMu.Lock()
	delete(built, "amd64")
	buildMu.Unlock()
	if err := os.Remove(a.Path); err != nil {
		t.Fatal(err)
	}
	c, err := Build(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256 != a.SHA256 {
		t.Fatalf("rebuilt helper %s, first %s: the build is not reproducible", c.SHA256, a.SHA256)
	}
}

// A development tree's helper is kept under its source's key: the next
// process finds it, and a changed source is another key.
func TestADevelopmentTreesHelperIsKeptUnderItsSource(t *testing.T) {
	k := treeKey()
	if len(k) != 16 {
		t.Fatalf("treeKey %q: the test runs inside Slipway's module, want a key", k)
	}
	if k2 := treeKey(); k2 != k {
		t.Fatalf("treeKey changed between two calls: %s, %s", k, k2)
	}
	dir, cached := cacheDir("amd64")
	if !cached || !strings.Contains(dir, "devel-"+k+"-amd64") {
		t.Fatalf("cache folder %s (cached %v): want one keyed by %s", dir, cached, k)
	}
	a, err := Build(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	delete(built, "amd64")
	buildMu.Unlock()
	fi, _ := os.Stat(a.Path)
	b, err := Build(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(b.Path)
	if b != a || fi == nil || fi2 == nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("another process's build %+v, first %+v: want the kept file, not a new build", b, a)
	}
}

func TestEnsureInstallsOnceVerifiedAndRefusesATamperedUpload(t *testing.T) {
	c := dial(t)
	ctx := context.Background()
	bin, err := Build(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	installed.Delete(key{c, bin.SHA256})
	os.Remove(helper.HelperDir + "/slipway-helper-" + bin.SHA256)
	if err := Ensure(ctx, c, bin); err != nil {
		t.Fatal(err)
	}
	out, err := c.Run(ctx, Command(bin, "version"), nil)
	if err != nil || strings.TrimSpace(string(out)) != "protocol 1" {
		t.Fatalf("installed helper: %q, %v", out, err)
	}
	fi, err := os.Stat(helper.HelperDir + "/slipway-helper-" + bin.SHA256)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("installed helper: %v, %v", fi, err)
	}

	// A binary whose content is not what its name says is never installed.
	bad := bin
	bad.Path = t.TempDir() + "/tampered"
	if err := os.WriteFile(bad.Path, []byte("#!/bin/sh\necho owned\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad.SHA256 = strings.Repeat("ab", 32)
	err = Install(ctx, c, bad)
	if err == nil || !strings.Contains(err.Error(), "want "+bad.SHA256) {
		t.Fatalf("install of a tampered upload: %v, want a checksum refusal", err)
	}
	if _, err := os.Stat(helper.HelperDir + "/slipway-helper-" + bad.SHA256); !os.IsNotExist(err) {
		t.Fatalf("tampered helper installed: %v", err)
	}
}

// A helper the server lacks is told apart from a step that failed: by the
// shell's 127, or by sudo's own words (sudo -n -- <path> exits 1).
func TestMissingKnowsSudosCommandNotFound(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&remote.ExitError{Status: 127, Stderr: "sh: 1: /usr/local/lib/slipway/slipway-helper-ab: not found"}, true},
		{&remote.ExitError{Status: 1, Stderr: "sudo: /usr/local/lib/slipway/slipway-helper-ab: command not found"}, true},
		{&remote.ExitError{Status: 1, Stderr: "result failed no env file"}, false},
		{&remote.ExitError{Status: 1, Stderr: "psql: command not found"}, false},
		{errors.New("connection lost"), false},
	} {
		if got := missing(c.err); got != c.want {
			t.Errorf("missing(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestResultIsTheLastResultLine(t *testing.T) {
	for out, want := range map[string]string{
		"step one\nresult failed first\nlog x\nresult ok id=1 size=2\n": "ok id=1 size=2",
		"result failed no env file /etc/app/app.env\n":                  "failed no env file /etc/app/app.env",
		"step one\nlog result ok\n":                                     "",
	} {
		if got := Result([]byte(out)); got != want {
			t.Errorf("Result(%q) = %q, want %q", out, got, want)
		}
	}
}
