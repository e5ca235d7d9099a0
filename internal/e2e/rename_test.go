package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inRenamedCopy is set in the environment of the tests run inside the
// renamed copy, so that the copy's own rename test doesn't copy again.
const inRenamedCopy = "SLIPWAY_IN_RENAMED_COPY"

// Starting a project from Slipway is `gonew github.com/slipway-dev/slipway
// example.com/myapp`: a copy with go.mod's module line and the import paths
// rewritten, nothing else. Whatever spells the module path in a string
// would break there, so the copy must vet, build a stamped bin/app and pass
// the fast tests.
func TestARenamedCopyVetsBuildsAndPassesTheFastTests(t *testing.T) {
	if os.Getenv(inRenamedCopy) != "" {
		t.Skip("already inside the renamed copy")
	}
	const newModule = "example.com/myapp"
	// One folder per checkout, the same on every run: with the copy's files
	// keeping their times and -trimpath below, the build and test caches
	// serve what an earlier run already compiled and passed.
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(src))
	dir := filepath.Join(os.TempDir(), "slipway-renamed-"+hex.EncodeToString(sum[:6]))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	r := copyRepoInto(t, dir)
	oldModule := modulePath(t, r.dir)
	renameModule(t, r.dir, oldModule, newModule)
	commit := r.commit(t, "myapp: renamed from "+oldModule)

	// No string in Go source may still spell the old path: gonew rewrote
	// the imports, and nothing else would follow the rename.
	for _, f := range goFiles(t, r.dir) {
		for _, lit := range stringsSpelling(t, f, oldModule) {
			t.Errorf("%s: %s still spells %s after the rename", strings.TrimPrefix(f, r.dir+"/"), lit, oldModule)
		}
	}

	// The module and build caches are the machine's: only the renamed
	// packages compile again.
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = r.dir
		// -trimpath keeps the copy's temporary path out of the build cache
		// keys: a second run compiles nothing the first one did.
		cmd.Env = append(os.Environ(), inRenamedCopy+"=1", "GOFLAGS=-trimpath -buildvcs=false")
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in the renamed copy, %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		t.Logf("in the renamed copy: %s %s (%s)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
		return string(out)
	}
	run("go", "vet", "./...")
	run("go", "run", "mage.go", "buildApp")
	out := run(filepath.Join(r.dir, "bin", "app"), "version")
	if !strings.Contains(out, "commit "+commit) {
		t.Errorf("bin/app version in the renamed copy:\n%s\nwant commit %s", out, commit)
	}
	run("go", "test", "-short", "./...")
}

// modulePath reads the module line of dir/go.mod.
func modulePath(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// renameModule does what gonew does to a copy (golang.org/x/tools/cmd/gonew,
// fixGo and the go.mod rewrite): the module line of go.mod, and in every .go
// file the import paths equal to or under old and, in the root folder, a
// package named after old's last element. Nothing else changes.
func renameModule(t *testing.T, dir, old, new string) {
	t.Helper()
	gomod := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("module "+old+"\n"), []byte("module "+new+"\n"), 1)
	if err := os.WriteFile(gomod, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range goFiles(t, dir) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		type edit struct {
			from, to int
			text     string
		}
		var edits []edit
		at := func(p token.Pos) int { return fset.Position(p).Offset }
		oldName, newName := path.Base(old), path.Base(new)
		if filepath.Dir(f) == dir {
			if n := file.Name.Name; n == oldName || n == oldName+"_test" {
				edits = append(edits, edit{at(file.Name.Pos()), at(file.Name.End()), newName + strings.TrimPrefix(n, oldName)})
			}
		}
		for _, spec := range file.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				continue
			}
			switch {
			case p == old:
				text := strconv.Quote(new)
				if oldName != newName && spec.Name == nil {
					text = oldName + " " + text // the code still says oldName.X
				}
				edits = append(edits, edit{at(spec.Path.Pos()), at(spec.Path.End()), text})
			case strings.HasPrefix(p, old+"/"):
				edits = append(edits, edit{at(spec.Path.Pos()), at(spec.Path.End()), strconv.Quote(new + strings.TrimPrefix(p, old))})
			}
		}
		if len(edits) == 0 {
			continue
		}
		slices.SortFunc(edits, func(a, b edit) int { return b.from - a.from })
		for _, e := range edits {
			src = slices.Concat(src[:e.from], []byte(e.text), src[e.to:])
		}
		if err := os.WriteFile(f, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// stringsSpelling returns the string literals of the Go file at path, outside
// its imports, that contain s, with their positions.
func stringsSpelling(t *testing.T, path, s string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ImportSpec:
			return false
		case *ast.BasicLit:
			if n.Kind == token.STRING && strings.Contains(n.Value, s) {
				found = append(found, fmt.Sprintf("line %d: %s", fset.Position(n.Pos()).Line, n.Value))
			}
		}
		return true
	})
	return found
}

// goFiles lists the .go files under dir.
func goFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
