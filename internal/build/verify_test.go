package build

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestUnsupportedArchIsOneClearLine(t *testing.T) {
	t.Parallel()
	want := `unsupported GOARCH "386": supported: amd64, arm64`
	if _, err := Run(context.Background(), Options{Dir: t.TempDir(), GOARCH: "386"}); err == nil || err.Error() != want {
		t.Errorf("Run: err = %v, want %q", err, want)
	}
	if err := Verify("/nonexistent", "386"); err == nil || err.Error() != want {
		t.Errorf("Verify: err = %v, want %q", err, want)
	}
}

func TestVerifyRejectsNonELF(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app")
	writeFile(t, filepath.Dir(path), "app", "#!/bin/sh\necho hi\n")
	if err := Verify(path, "amd64"); err == nil || !strings.Contains(err.Error(), "not an ELF file") {
		t.Fatalf("err = %v, want 'not an ELF file'", err)
	}
}

// TestVerifyRejectsDynamic uses a system binary: dynamically linked against
// libc, the case a cgo build would produce.
func TestVerifyRejectsDynamic(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("needs a linux ELF system binary")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git on PATH")
	}
	err = Verify(git, runtime.GOARCH)
	var verr *VerifyError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want a *VerifyError", err)
	}
	for _, want := range []string{"not static: needs interpreter /lib", "not static: needs shared libraries", "libc.so"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}

// TestVerifyRejectsUnstrippedAndWrongArch builds a tiny program with a
// default go build, which keeps its symbol table and DWARF. (The test binary
// itself won't do: go test strips it.)
func TestVerifyRejectsUnstrippedAndWrongArch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "go.mod", "module example.com/tiny\n\ngo 1.26\n")
	writeFile(t, dir, "main.go", "package main\n\nfunc main() {}\n")
	cmd := exec.Command("go", "build", "-o", "tiny", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	err := Verify(filepath.Join(dir, "tiny"), "arm64")
	for _, want := range []string{
		"built for ELFCLASS64 EM_X86_64, want ELFCLASS64 EM_AARCH64 (GOARCH=arm64)",
		"not stripped: has a symbol table (.symtab)",
		"not stripped: has DWARF sections .debug_",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "not static") {
		t.Errorf("err = %v, want no 'not static': CGO_ENABLED=0 links statically", err)
	}
}
