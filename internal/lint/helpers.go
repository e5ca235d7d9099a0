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
