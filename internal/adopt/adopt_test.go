package adopt

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	code := sandboxtest.Main(m)
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

// The adoption's size, as the count rule below measures it on
// testdata/adopt.patch; the test fails if the adoption grows past them.
const (
	maxAddedGoLines  = 28 // `+` lines of the .go files' diff, blank ones included
	maxAddedNonBlank = 20 // the same without the blank lines
)

// TestTheAdoptionIsThePatchDocsAdoptShows: the diff docs/adopt.md shows is
// byte for byte the one the tests apply to the fixture.
func TestTheAdoptionIsThePatchDocsAdoptShows(t *testing.T) {
	patch, err := os.ReadFile(filepath.Join("testdata", "adopt.patch"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "adopt.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n```diff\n")
	if !ok {
		t.Fatal("docs/adopt.md shows no ```diff block")
	}
	shown, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("docs/adopt.md: the ```diff block doesn't end")
	}
	if shown+"\n" != string(patch) {
		t.Errorf("docs/adopt.md's diff differs from internal/adopt/testdata/adopt.patch: copy the patch into the page\n--- page\n%s\n--- patch\n%s", shown, patch)
	}
}

// TestTheAdoptionAddsAtMostTheLinesOfGoWeReport counts the adoption's Go:
// every added line (`+`, not the `+++` header) of the patch's .go files.
// go.mod and go.sum are `go get`'s, not in the patch; its one other file
// is .gitignore (a line, not Go).
func TestTheAdoptionAddsAtMostTheLinesOfGoWeReport(t *testing.T) {
	patch, err := os.ReadFile(filepath.Join("testdata", "adopt.patch"))
	if err != nil {
		t.Fatal(err)
	}
	all, nonBlank, files := addedGoLines(string(patch))
	t.Logf("the adoption adds %d lines of Go (%d not blank): %v", all, nonBlank, files)
	if all > maxAddedGoLines || nonBlank > maxAddedNonBlank {
		t.Errorf("the adoption adds %d lines of Go (%d not blank), more than the %d (%d) reported: shrink it or report the new count", all, nonBlank, maxAddedGoLines, maxAddedNonBlank)
	}
	for _, f := range []string{"magefile.go", "mage.go", "db/migrations/migrations.go", "cmd/server/main.go"} {
		if _, ok := files[f]; !ok {
			t.Errorf("the patch doesn't touch %s", f)
		}
	}
	for f := range files {
		if !strings.HasSuffix(f, ".go") && f != ".gitignore" {
			t.Errorf("the patch touches %s: the adoption's files are Go and .gitignore (go.mod and go.sum are go get's)", f)
		}
	}
}

// addedGoLines counts the added lines of the .go files of a unified diff:
// all of them, those not blank, and per file (every file the diff touches
// is a key).
func addedGoLines(patch string) (all, nonBlank int, files map[string]int) {
	files = map[string]int{}
	file := ""
	sc := bufio.NewScanner(strings.NewReader(patch))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "diff --git a/"); ok {
			file, _, _ = strings.Cut(rest, " b/")
			files[file] += 0
			continue
		}
		if strings.HasPrefix(line, "+++ ") || !strings.HasPrefix(line, "+") || !strings.HasSuffix(file, ".go") {
			continue
		}
		all++
		files[file]++
		if strings.TrimSpace(line[1:]) != "" {
			nonBlank++
		}
	}
	return all, nonBlank, files
}
