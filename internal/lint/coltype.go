package lint

import (
	"fmt"
	"strconv"
	"strings"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// colType is a column's declared type as the rules compare it: the type's
// own name (varchar for character varying, numeric for decimal), its
// modifiers (length, precision and scale) and whether it is an array.
type colType struct {
	name  string
	mods  []int32
	array bool
}

// typeOf reads a column type; ok is false for anything the rules can't
// compare (a modifier that is no integer constant, %TYPE...).
func typeOf(tn *pganalyze.TypeName) (colType, bool) {
	if tn == nil || len(tn.Names) == 0 || tn.PctType {
		return colType{}, false
	}
	t := colType{name: tn.Names[len(tn.Names)-1].GetString_().GetSval(), array: len(tn.ArrayBounds) > 0}
	// serial is int plus a sequence: the column's type is the int.
	if n, ok := serialTypes[t.name]; ok {
		t.name = n
	}
	for _, m := range tn.Typmods {
		iv := m.GetAConst().GetIval()
		if iv == nil {
			return colType{}, false
		}
		t.mods = append(t.mods, iv.Ival)
	}
	return t, true
}

var serialTypes = map[string]string{
	"smallserial": "int2", "serial2": "int2", "serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
}

// String is the form findings print and the cache stores: varchar(20),
// numeric(10,2), int4[].
func (t colType) String() string {
	s := t.name
	if len(t.mods) > 0 {
		parts := make([]string, len(t.mods))
		for i, m := range t.mods {
			parts[i] = strconv.Itoa(int(m))
		}
		s += "(" + strings.Join(parts, ",") + ")"
	}
	if t.array {
		s += "[]"
	}
	return s
}

// parseColType reads String's form back.
func parseColType(s string) colType {
	var t colType
	s, t.array = strings.CutSuffix(s, "[]")
	name, mods, ok := strings.Cut(strings.TrimSuffix(s, ")"), "(")
	t.name = name
	if ok {
		for _, m := range strings.Split(mods, ",") {
			n, _ := strconv.Atoi(m)
			t.mods = append(t.mods, int32(n))
		}
	}
	return t
}

// rewriteFree reports whether PostgreSQL changes a column from old to new
// without rewriting the table: the widenings its ALTER TYPE skips the
// rewrite for (binary-coercible types whose length or precision check only
// gets looser). Array columns go through an element-wise coercion, which
// rewrites.
func rewriteFree(old, new colType) bool {
	if old.array || new.array {
		return old.String() == new.String()
	}
	if old.String() == new.String() {
		return true
	}
	switch old.name {
	case "varchar", "text":
		switch new.name {
		case "text":
			return true
		case "varchar":
			return len(new.mods) == 0 || (old.name == "varchar" && len(old.mods) == 1 && new.mods[0] >= old.mods[0])
		}
	case "varbit":
		return new.name == "varbit" && (len(new.mods) == 0 || (len(old.mods) == 1 && new.mods[0] >= old.mods[0]))
	case "numeric":
		if new.name != "numeric" {
			return false
		}
		if len(new.mods) == 0 {
			return true
		}
		if len(old.mods) == 0 {
			return false // unconstrained to constrained checks every value
		}
		return new.mods[0] >= old.mods[0] && scale(new) == scale(old)
	}
	return false
}

// scale is numeric(p,s)'s s; numeric(p) means scale 0.
func scale(t colType) int32 {
	if len(t.mods) > 1 {
		return t.mods[1]
	}
	return 0
}

// changeType checks ALTER COLUMN ... TYPE against what the earlier
// migrations declared the column as, and records the new type.
func (c *checker) changeType(table string, cmd *pganalyze.AlterTableCmd) *hit {
	key := table + "." + cmd.Name
	cd := cmd.Def.GetColumnDef()
	newT, newOK := typeOf(cd.GetTypeName())
	oldS, known := c.colTypes[key]
	if newOK {
		c.colTypes[key] = newT.String()
	} else {
		delete(c.colTypes, key)
	}
	// USING computes every row, and a new collation may change the order
	// of an index: both count as a rewrite.
	plain := cd.GetRawDefault() == nil && cd.GetCollClause() == nil
	switch {
	case !known || !newOK:
		return &hit{ruleChangeColumnType, fmt.Sprintf(msgChangeTypeUnknown, key)}
	case plain && rewriteFree(parseColType(oldS), newT):
		return nil
	}
	return &hit{ruleChangeColumnType, fmt.Sprintf(msgChangeType, oldS, newT)}
}

// recordColumns remembers the declared types of a new table's columns.
func (c *checker) recordColumns(table string, elts []*pganalyze.Node) {
	for _, e := range elts {
		c.recordColumn(table, e.GetColumnDef())
	}
}

func (c *checker) recordColumn(table string, cd *pganalyze.ColumnDef) {
	if cd == nil {
		return
	}
	if t, ok := typeOf(cd.TypeName); ok {
		c.colTypes[table+"."+cd.Colname] = t.String()
	}
}

// forgetTable drops what the checker knows about a table that is dropped,
// or moves it to the new name of a renamed one.
func (c *checker) forgetTable(table, renamedTo string) {
	prefix := table + "."
	for k, v := range c.colTypes {
		if col, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(col, ".") {
			delete(c.colTypes, k)
			if renamedTo != "" {
				c.colTypes[renamedTo+"."+col] = v
			}
		}
	}
	if c.partitioned[table] {
		delete(c.partitioned, table)
		if renamedTo != "" {
			c.partitioned[renamedTo] = true
		}
	}
}
