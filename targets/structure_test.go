package targets

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The targets (this package and the repository's magefile.go) are a table
// of contents: each resolves its settings and calls one internal package
// function. So none dials a host, loops over hosts, or reads the process
// environment outside project.go, the one place settings come from (the
// Project and its getenv).
func TestUnitNoTargetDialsAHostOrReadsTheEnvironmentItself(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string(nil), pkg.GoFiles...)
	files = append(files, filepath.Join("..", "magefile.go"))
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasSuffix(p, "/internal/remote") || strings.HasPrefix(p, "golang.org/x/crypto/ssh") {
				t.Errorf("%s imports %s: connecting to hosts is internal/deploy's (add a function there and call it)", fset.Position(imp.Pos()), p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr: // called or passed on (sandbox.FromEnv(os.Getenv))
				if x, ok := n.X.(*ast.Ident); ok && x.Name == "os" && filepath.Base(name) != "project.go" {
					switch n.Sel.Name {
					case "Getenv", "LookupEnv", "Environ":
						t.Errorf("%s: os.%s in a target: read settings through the Project (p.getenv) or an internal package's FromEnv", fset.Position(n.Pos()), n.Sel.Name)
					}
				}
			case *ast.RangeStmt:
				if sel, ok := n.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Hosts" {
					t.Errorf("%s: a target loops over hosts: that orchestration is internal/deploy's", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("checked %d files: the file list is broken", checked)
	}
}
