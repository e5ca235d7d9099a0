// Package migfilestest makes migration folders for tests of the packages
// that read them (migfiles, devdb): files written into a temporary folder,
// and the folder's listing to compare before and after.
package migfilestest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Folder writes files (name → content) into a new temporary folder, removed
// when the test ends, and returns its path.
func Folder(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Names lists the entries of dir, sorted.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	out, err := fs.Glob(os.DirFS(dir), "*")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
