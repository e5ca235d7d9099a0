package migfiles

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slipway-dev/slipway/internal/lint"
)

// Check is the gate CI, buildApp and deploy run on a migration folder. It
// returns one Problem per failure, each naming the file and the fix:
//   - a file name that doesn't parse, or a timestamp version (fixMigrations
//     must number it before merge);
//   - duplicate versions, or numbered versions not contiguous from 1;
//   - a file goose's parser would refuse (no Up section, unbalanced
//     StatementBegin/End, unknown annotation...);
//   - a numbered file edited since SumFile recorded it, missing from it, or a
//     damaged SumFile;
//   - every finding of the migration linter (package lint).
//
// The error is for I/O only.
//
// opts go to the linter (lint.WithCache).
func Check(ctx context.Context, dir string, opts ...lint.Option) ([]Problem, error) {
	l, err := list(dir)
	if err != nil {
		return nil, err
	}
	problems := l.problems
	for _, f := range l.files {
		if f.Kind == Timestamp {
			problems = append(problems, Problem{File: filepath.Join(dir, f.Name), Msg: "timestamp version, still in development",
				Fix: "number it with go run mage.go fixMigrations before merge"})
		}
	}
	problems = append(problems, versionProblems(dir, l.files)...)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	refused := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".sql" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		if se := checkSyntax(src); se != nil {
			refused[path] = true
			problems = append(problems, Problem{File: path, Line: se.line, Msg: "goose can't parse it: " + se.msg, Fix: se.fix})
		}
	}

	sp, err := sumProblems(dir, l.files)
	if err != nil {
		return nil, err
	}
	problems = append(problems, sp...)

	findings, err := lint.Dir(ctx, dir, opts...)
	if err != nil {
		return nil, err
	}
	for _, f := range findings {
		// The linter reports a goose-level parse failure too; the line
		// above already says it, with the fix.
		if refused[f.Path] {
			continue
		}
		problems = append(problems, Problem{File: f.Path, Line: f.Line, Msg: f.Rule + ": " + f.Message})
	}
	return problems, nil
}
