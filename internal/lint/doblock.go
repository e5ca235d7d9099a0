package lint

import (
	"encoding/json"
	"strings"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// doBlock checks the statements of a DO block as if they were written in
// the file: PostgreSQL runs them in the migration's transaction, with its
// locks. Branches count as taken (IF NOT EXISTS ... THEN ALTER ...), since a
// deploy can take them. What can't be seen gets a do-block-not-checked hit:
// SQL built at run time (EXECUTE), a language other than PL/pgSQL, a body
// the parser rejects.
func (c *checker) doBlock(do *pganalyze.DoStmt) []hit {
	body, lang := "", "plpgsql"
	for _, a := range do.Args {
		d := a.GetDefElem()
		switch {
		case d == nil:
		case d.Defname == "as":
			body = d.Arg.GetString_().GetSval()
		case d.Defname == "language":
			lang = strings.ToLower(d.Arg.GetString_().GetSval())
		}
	}
	unchecked := []hit{{ruleDoBlock, messages[ruleDoBlock]}}
	const tag = "$slipway_do$"
	if lang != "plpgsql" || strings.Contains(body, tag) {
		return unchecked
	}
	// The PL/pgSQL parser reads function bodies: give it one.
	out, err := parsePlpgsql("CREATE FUNCTION pg_temp.slipway_do() RETURNS void LANGUAGE plpgsql AS " +
		tag + body + tag + ";")
	if err != nil {
		return unchecked
	}
	var tree any
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return unchecked
	}
	var queries []string
	dynamic := false
	plpgsqlStatements(tree, &queries, &dynamic)
	var hits []hit
	for _, q := range queries {
		res, err := backend.parse(q)
		if err != nil {
			return unchecked
		}
		for _, s := range res.Stmts {
			hits = append(hits, c.stmt(s.Stmt)...)
		}
	}
	if dynamic {
		hits = append(hits, unchecked...)
	}
	return dedupe(hits)
}

// plpgsqlStatements collects the SQL statements of a PL/pgSQL parse tree
// (pg_query's JSON), and notes dynamic SQL and transaction control, which
// the SQL statements alone don't show.
func plpgsqlStatements(n any, queries *[]string, dynamic *bool) {
	switch v := n.(type) {
	case []any:
		for _, e := range v {
			plpgsqlStatements(e, queries, dynamic)
		}
	case map[string]any:
		for k, e := range v {
			switch k {
			case "PLpgSQL_stmt_execsql":
				if q, ok := exprQuery(e, "sqlstmt"); ok {
					*queries = append(*queries, q)
				}
			case "PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors":
				*dynamic = true
			case "PLpgSQL_stmt_open":
				if m, ok := e.(map[string]any); ok && m["dynquery"] != nil {
					*dynamic = true
				}
			case "PLpgSQL_stmt_commit":
				*queries = append(*queries, "COMMIT")
			case "PLpgSQL_stmt_rollback":
				*queries = append(*queries, "ROLLBACK")
			}
			plpgsqlStatements(e, queries, dynamic)
		}
	}
}

// exprQuery reads stmt[field].PLpgSQL_expr.query.
func exprQuery(stmt any, field string) (string, bool) {
	m, _ := stmt.(map[string]any)
	f, _ := m[field].(map[string]any)
	e, _ := f["PLpgSQL_expr"].(map[string]any)
	q, ok := e["query"].(string)
	return q, ok
}

// dedupe keeps the first of identical hits: two ALTERs in one block make
// one missing-lock-timeout finding on the DO line, not two.
func dedupe(hits []hit) []hit {
	seen := map[hit]bool{}
	var out []hit
	for _, h := range hits {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
