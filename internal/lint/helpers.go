package lint

import (
	"strings"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// shareLock is LockStmt's mode number for SHARE, the weakest mode that
// blocks writes (lockdefs.h: ACCESS SHARE is 1, ACCESS EXCLUSIVE 8).
const shareLock = 5

// firstOld returns the first of the table keys not created earlier in this
// file: the one a drop would take from the running binary.
func (f *fileState) firstOld(names []string) (string, bool) {
	for _, n := range names {
		if !f.newTables[n] {
			return n, true
		}
	}
	return "", false
}

// rangeVar turns a table key back into a relation.
func rangeVar(key string) *pganalyze.RangeVar {
	schema, name, ok := strings.Cut(key, ".")
	if !ok {
		return &pganalyze.RangeVar{Relname: key}
	}
	return &pganalyze.RangeVar{Schemaname: schema, Relname: name}
}

// listStrings gives the names in a List node of String nodes.
func listStrings(n *pganalyze.Node) []string {
	var parts []string
	for _, item := range n.GetList().GetItems() {
		parts = append(parts, item.GetString_().GetSval())
	}
	return parts
}

// qualified makes a relation of [catalog.][schema.]name parts.
func qualified(parts []string) *pganalyze.RangeVar {
	rv := &pganalyze.RangeVar{Relname: parts[len(parts)-1]}
	if len(parts) > 1 {
		rv.Schemaname = parts[len(parts)-2]
	}
	return rv
}

// funcKey names a function the same way however it is written, without its
// argument types: an overload created in the same file counts as new.
func funcKey(names []*pganalyze.Node) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, n.GetString_().GetSval())
	}
	if len(parts) == 2 && parts[0] == "public" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// hasOption reports whether a VACUUM-style option list turns name on.
func hasOption(opts []*pganalyze.Node, name string) bool {
	for _, o := range opts {
		if d := o.GetDefElem(); d != nil && d.Defname == name {
			return d.Arg == nil || d.Arg.GetBoolean().GetBoolval() || d.Arg.GetString_().GetSval() == "true"
		}
	}
	return false
}

// vacuumRels gives the tables a VACUUM names; none means every table.
func vacuumRels(rels []*pganalyze.Node) []*pganalyze.RangeVar {
	var out []*pganalyze.RangeVar
	for _, r := range rels {
		if vr := r.GetVacuumRelation(); vr != nil && vr.Relation != nil {
			out = append(out, vr.Relation)
		}
	}
	return out
}

// doBlockKeywords are the tokens of statements the rules would look at, had
// they been written outside the block. EXECUTE runs SQL built at run time,
// which no linter can see.
var doBlockKeywords = map[pganalyze.Token]bool{
	pganalyze.Token_ALTER: true, pganalyze.Token_CREATE: true, pganalyze.Token_DROP: true,
	pganalyze.Token_TRUNCATE: true, pganalyze.Token_EXECUTE: true, pganalyze.Token_REINDEX: true,
	pganalyze.Token_LOCK_P: true, pganalyze.Token_CLUSTER: true, pganalyze.Token_VACUUM: true,
	pganalyze.Token_REFRESH: true, pganalyze.Token_UPDATE: true, pganalyze.Token_DELETE_P: true,
	pganalyze.Token_COMMIT: true, pganalyze.Token_ROLLBACK: true,
}

// harmlessCreates are the CREATEs a DO block may run unseen: they make a new
// object and lock nothing the running binary uses. CREATE INDEX, TRIGGER,
// POLICY and the rest are looked at.
var harmlessCreates = map[pganalyze.Token]bool{
	pganalyze.Token_TYPE_P: true, pganalyze.Token_DOMAIN_P: true, pganalyze.Token_FUNCTION: true,
	pganalyze.Token_PROCEDURE: true, pganalyze.Token_SCHEMA: true, pganalyze.Token_EXTENSION: true,
	pganalyze.Token_SEQUENCE: true, pganalyze.Token_ROLE: true, pganalyze.Token_USER: true,
	pganalyze.Token_TABLE: true, pganalyze.Token_VIEW: true, pganalyze.Token_TEMP: true,
	pganalyze.Token_TEMPORARY: true,
}

// doBlockIsPlain reports whether a DO block contains none of the statements
// the rules check (a conditional INSERT, RAISE...). Its body is PL/pgSQL,
// which the SQL scanner tokenises well enough to find keywords; a body it
// cannot scan counts as not plain.
func doBlockIsPlain(do *pganalyze.DoStmt) bool {
	body := ""
	for _, a := range do.Args {
		if d := a.GetDefElem(); d != nil && d.Defname == "as" {
			body = d.Arg.GetString_().GetSval()
		}
	}
	tokens, err := scan(body)
	if err != nil {
		return false
	}
	for i, t := range tokens {
		if !doBlockKeywords[t.Token] {
			continue
		}
		if t.Token == pganalyze.Token_CREATE && harmlessCreate(tokens[i+1:]) {
			continue
		}
		return false
	}
	return true
}

// harmlessCreate looks at what follows CREATE [OR REPLACE].
func harmlessCreate(rest []*pganalyze.ScanToken) bool {
	if len(rest) >= 2 && rest[0].Token == pganalyze.Token_OR && rest[1].Token == pganalyze.Token_REPLACE {
		rest = rest[2:]
	}
	if len(rest) >= 2 && rest[0].Token == pganalyze.Token_TABLE {
		// CREATE TABLE ... PARTITION OF locks the parent: not harmless.
		for _, t := range rest[1:] {
			if t.Token == pganalyze.Token_PARTITION {
				return false
			}
			if t.Token == pganalyze.Token_ASCII_59 { // ';'
				break
			}
		}
	}
	return len(rest) > 0 && harmlessCreates[rest[0].Token]
}
