// Package lint checks goose migrations for statements that would break the
// running application during a deploy.
//
// While a deploy happens the old binary keeps serving against the new schema,
// so every migration must be backward-compatible and take no long lock: no
// drops or renames of what the old binary uses, no table rewrites, no index
// builds that block writes. The safe way is expand/contract, one small step
// per migration; each finding names that step.
//
// Statements are parsed with PostgreSQL's own parser (pg_query compiled to
// WebAssembly), so the rules see the statement as the server will. Only the
// Up section of a file is linted: Down runs by hand, when nothing is serving.
package lint

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Finding is one problem in a migration, at a line of the original file.
type Finding struct {
	Path    string
	Line    int
	Rule    string
	Message string
}

// String gives the `path:line: rule: message` form editors and CI logs
// understand.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.Path, f.Line, f.Rule, f.Message)
}

// lintFile lints one goose migration. path only labels the findings. A
// file the parser or goose rejects gives a single "syntax" finding.
func lintFile(path string, src []byte) []Finding {
	return newChecker().file(path, src)
}

// Dir lints every .sql file in dir, in goose version order. Findings name
// files as dir/name. The error is for I/O only: unsafe SQL is a finding.
func Dir(ctx context.Context, dir string) ([]Finding, error) {
	return lintFS(ctx, os.DirFS(dir), func(name string) string { return filepath.Join(dir, name) })
}

// lintFS lints every .sql file at the top level of fsys in goose version
// order, naming files with label.
func lintFS(ctx context.Context, fsys fs.FS, label func(string) string) ([]Finding, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && path.Ext(e.Name()) == ".sql" {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, byVersion)
	// One checker for the whole run: a NOT NULL check validated by an
	// earlier migration makes a later SET NOT NULL safe.
	c := newChecker()
	var findings []Finding
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		findings = append(findings, c.file(label(name), src)...)
	}
	return findings, nil
}

// byVersion orders files the way goose applies them: by the number before
// the first underscore, then by name for anything goose would not number.
func byVersion(a, b string) int {
	va, oka := version(a)
	vb, okb := version(b)
	switch {
	case oka && okb && va != vb:
		if va < vb {
			return -1
		}
		return 1
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func version(name string) (int64, bool) {
	num, _, _ := strings.Cut(name, "_")
	v, err := strconv.ParseInt(num, 10, 64)
	return v, err == nil && v >= 0
}
