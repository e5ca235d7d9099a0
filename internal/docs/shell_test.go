package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/testenv"
)

// shellBudget is how many lines of shell the repository may hold, all in
// .sh files: the server half is Go (package helper).
const shellBudget = 60

// shellExempt are the folders whose shell is not the product's and is not
// counted against shellBudget (shellcheck still reads their .sh files):
// what CI runs to set up the machine, and the sandbox's own image
// building. Tests (_test.go files, and the test harness packages, whose
// names end in "test") set servers up and look into them with shell too:
// they are not what the product sends, and are not read.
var shellExempt = map[string]string{
	".ci":              "CI's machine set-up, not sent to any server",
	"internal/sandbox": "the test sandbox builds its own image (setup*.sh)",
}

// testHarness reports a test harness package's folder (sshdtest,
// remotetest, acmetest...).
func testHarness(dir string) bool { return strings.HasSuffix(dir, "test") && dir != "internal/testenv" }

// exempt reports whether rel (a file's path in the repository) is under a
// folder of shellExempt.
func exempt(rel string) bool {
	for dir := range shellExempt {
		if strings.HasPrefix(rel, dir+"/") {
			return true
		}
	}
	return false
}

// shellMarks are what makes a Go string shell.
var shellMarks = regexp.MustCompile(`(?m)\bsh -c\b|#!/bin/(ba)?sh|\bset -[eu]|\$\(|\$\{|\| *(awk|sed|grep|cut|tr)\b|\bperl\b|\bawk '|; then\b|; do$|^\s*(fi|done)\b|2>/dev/null|>&2|\bprintf '| && | \|\| |\bcat > |\bumask [0-7]`)

// unitShell is a unit line that starts a shell.
var unitShell = regexp.MustCompile(`(?m)^Exec\w*=\S*\b(ba)?sh -c.*$`)

// All the shell in the repository: at most shellBudget lines, in .sh files
// that shellcheck passes; no sh, AWK or Perl in Go strings or files of
// their own.
func TestShellIsFewLinesInShFilesAndShellcheckClean(t *testing.T) {
	root := repoRoot(t)
	lines := 0
	var sh []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if testHarness(d.Name()) || d.Name() == ".git" || d.Name() == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".sh", ".bash":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !exempt(rel) {
				lines += strings.Count(string(b), "\n")
			}
			sh = append(sh, p)
		case ".tmpl", ".service", ".socket", ".timer":
			// A unit's ExecStart= runs on the server.
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if m := unitShell.FindString(string(b)); m != "" {
				t.Errorf("%s: a unit runs shell (%q): run slipway-helper or the program itself", rel, m)
			}
		case ".pl", ".pm", ".awk":
			t.Errorf("%s: Perl or AWK; write it in Go (package helper)", rel)
		case ".go":
			if !strings.HasSuffix(p, "_test.go") {
				shellInGo(t, p, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines > shellBudget {
		t.Errorf("%d lines of shell in %s: the budget is %d; move steps into Go (package helper)", lines, strings.Join(sh, " "), shellBudget)
	}
	t.Logf("%d lines of the product's shell (budget %d); %d .sh files for shellcheck", lines, shellBudget, len(sh))
	if len(sh) == 0 {
		return
	}
	_, err = exec.LookPath("shellcheck")
	testenv.Need(t, err == nil, "shellcheck: apt-get install shellcheck")
	out, err := exec.Command("shellcheck", append([]string{"-s", "sh"}, sh...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// shellInGo reports Go string literals of a non-test file that are shell.
func shellInGo(t *testing.T, path, rel string) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	fset.AddFile(path, -1, 0)
	b, _ := os.ReadFile(path)
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		if m := shellMarks.FindString(s); m != "" {
			line := 1 + strings.Count(string(b[:lit.Pos()-1]), "\n")
			t.Errorf("%s:%d: a Go string holds shell (%q): write it in Go (package helper), or in a .sh file within the budget", rel, line, m)
		}
		return true
	})
}
