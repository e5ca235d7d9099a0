package migfiles

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a migration folder: the file, what is
// wrong, and what to do about it.
type Problem struct {
	File string // path of the file, as dir/name
	Line int    // 0 when the problem is about the whole file
	Msg  string
	Fix  string // empty when Msg already says it
}

// String is `path[:line]: message: fix`, the form editors and CI logs
// understand.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString(": ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// ProblemsError reports every problem found at once, so one run shows the
// whole list instead of one fix-and-retry round per problem.
type ProblemsError struct {
	// What was refused, e.g. "fixMigrations changed nothing".
	Action   string
	Problems []Problem
}

// Error lists every problem, one a line, after a summary line.
func (e *ProblemsError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	noun := "problems"
	if n == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "%s: %d %s:", e.Action, n, noun)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}
