package lint

import (
	"errors"
	"sort"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// checker carries what the rules need to know about earlier statements.
type checker struct {
	// notNull holds "table.column" pairs with a validated
	// CHECK (column IS NOT NULL): SET NOT NULL on them skips the scan. It
	// spans the files of one run, since validating in an earlier migration is
	// the recommended way.
	notNull map[string]bool
	// pendingNotNull maps a "table.constraint" added NOT VALID to the
	// "table.column" it will vouch for once validated.
	pendingNotNull map[string]string
	// colTypes maps "table.column" to the type (colType.String) the
	// migrations so far declared it with: a widening ALTER TYPE skips the
	// rewrite, and only the old type tells.
	colTypes map[string]string
	// partitioned holds the tables created with PARTITION BY, which refuse
	// CREATE INDEX CONCURRENTLY.
	partitioned map[string]bool

	cur fileState
}

// fileState is reset for every file.
type fileState struct {
	noTx        bool
	lockTimeout bool
	// newTables and newIndexes were created earlier in this file: nothing
	// reads them yet, so locks and rewrites on them hurt no one.
	newTables  map[string]bool
	newIndexes map[string]bool
	// newFunctions holds the [schema.]names of functions created earlier in
	// this file.
	newFunctions map[string]bool
	// createdViews maps each view this file creates to the index of the
	// last statement creating it; stmt is the index of the current one.
	createdViews map[string]int
	stmt         int
	// notValid holds the "table.constraint"s added NOT VALID in this file.
	notValid map[string]bool
}

// hit is a rule violation before opt-outs are applied.
type hit struct {
	rule string
	msg  string
}

func newChecker() *checker {
	return &checker{notNull: map[string]bool{}, pendingNotNull: map[string]string{},
		colTypes: map[string]string{}, partitioned: map[string]bool{}}
}

func (c *checker) file(path string, src []byte) []Finding {
	lines := newLineIndex(src)
	m, err := prepare(src)
	if err != nil {
		var ge *gooseError
		errors.As(err, &ge)
		return []Finding{{Path: path, Line: ge.line, Rule: ruleSyntax, Message: ge.msg}}
	}
	if !m.hasUp {
		return nil
	}
	p, err := parse(m.up)
	if err != nil {
		var se *syntaxError
		errors.As(err, &se)
		return []Finding{{Path: path, Line: lines.line(se.offset), Rule: ruleSyntax, Message: se.msg}}
	}
	c.cur = fileState{noTx: m.noTx, newTables: map[string]bool{}, newIndexes: map[string]bool{},
		newFunctions: map[string]bool{}, createdViews: createdViews(p.stmts), notValid: map[string]bool{}}

	starts := make([]int, len(p.stmts))
	ends := make([]int, len(p.stmts))
	for i, s := range p.stmts {
		starts[i] = firstToken(p.tokens, int(s.StmtLocation))
		ends[i] = int(s.StmtLocation + s.StmtLen)
		if s.StmtLen == 0 {
			ends[i] = len(m.up)
		}
	}
	allows, findings := attachAllows(path, m.up, lines, p.comments, starts, ends)
	for i, s := range p.stmts {
		c.cur.stmt = i
		line := lines.line(starts[i])
		for _, h := range c.stmt(s.Stmt) {
			if allows[i].permits(h.rule) {
				continue
			}
			findings = append(findings, Finding{Path: path, Line: line, Rule: h.rule, Message: h.msg})
		}
	}
	sort.SliceStable(findings, func(i, j int) bool { return findings[i].Line < findings[j].Line })
	return findings
}

// createdViews finds the views and materialized views a file creates.
func createdViews(stmts []*pganalyze.RawStmt) map[string]int {
	views := map[string]int{}
	for i, s := range stmts {
		switch n := s.Stmt.Node.(type) {
		case *pganalyze.Node_ViewStmt:
			views[tableKey(n.ViewStmt.View)] = i
		case *pganalyze.Node_CreateTableAsStmt:
			if n.CreateTableAsStmt.Objtype == pganalyze.ObjectType_OBJECT_MATVIEW && n.CreateTableAsStmt.Into != nil {
				views[tableKey(n.CreateTableAsStmt.Into.Rel)] = i
			}
		}
	}
	return views
}

// recreated reports whether every view in names is created again later in
// this transactional file: goose commits the drop and the new view together,
// so the running binary never sees the view missing (CREATE OR REPLACE
// can't drop or retype a column, which is why files drop first).
func (f *fileState) recreated(names []string) bool {
	if f.noTx {
		return false
	}
	for _, n := range names {
		if i, ok := f.createdViews[n]; !ok || i < f.stmt {
			return false
		}
	}
	return true
}

// firstToken skips the comments and blanks the parser counts as part of a
// statement, so that a finding points at the statement's first keyword.
func firstToken(tokens []*pganalyze.ScanToken, from int) int {
	i := sort.Search(len(tokens), func(i int) bool { return int(tokens[i].Start) >= from })
	if i == len(tokens) {
		return from
	}
	return int(tokens[i].Start)
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int

func newLineIndex(src []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range src {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (l lineIndex) line(offset int) int {
	return sort.Search(len(l), func(i int) bool { return l[i] > offset })
}
