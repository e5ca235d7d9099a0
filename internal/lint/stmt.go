package lint

import (
	"fmt"
	"slices"
	"strings"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// stmt returns the rules a statement breaks and records what later
// statements need to know about it.
func (c *checker) stmt(n *pganalyze.Node) []hit {
	f := &c.cur
	var hits []hit
	flag := func(rule string) { hits = append(hits, hit{rule: rule, msg: messages[rule]}) }
	flagMsg := func(rule, msg string) { hits = append(hits, hit{rule: rule, msg: msg}) }
	// lockWait notes a statement that queues behind (and then ahead of) the
	// running binary's queries on rel; once per statement is enough.
	waits := false
	lockWait := func(rel *pganalyze.RangeVar) {
		if rel != nil && !f.isNew(rel) && !f.lockTimeout && !waits {
			waits = true
			flag(ruleMissingLockTimeout)
		}
	}
	idempotent := func(ok bool) {
		if f.noTx && !ok {
			flag(ruleNonIdempotentDDL)
		}
	}
	concurrent := func(ok bool) {
		if ok && !f.noTx {
			flag(ruleConcurrentlyInTx)
		}
	}

	switch s := n.Node.(type) {
	case *pganalyze.Node_CreateStmt:
		cs := s.CreateStmt
		idempotent(cs.IfNotExists)
		// CREATE TABLE ... PARTITION OF locks the parent.
		if cs.Partbound != nil {
			for _, p := range cs.InhRelations {
				lockWait(p.GetRangeVar())
			}
		}
		table := tableKey(cs.Relation)
		f.newTables[table] = true
		c.forgetTable(table, "")
		c.recordColumns(table, cs.TableElts)
		if cs.Partspec != nil {
			c.partitioned[table] = true
		}

	case *pganalyze.Node_CreateTableAsStmt:
		idempotent(s.CreateTableAsStmt.IfNotExists)
		if into := s.CreateTableAsStmt.Into; into != nil {
			f.newTables[tableKey(into.Rel)] = true
		}

	case *pganalyze.Node_IndexStmt:
		is := s.IndexStmt
		table := tableKey(is.Relation)
		part, only := c.partitioned[table], is.Relation != nil && !is.Relation.Inh
		concurrent(is.Concurrent && !part)
		switch {
		case part && only:
			// The standard pattern's first step: nothing to build.
		case part && !f.isNew(is.Relation):
			flagMsg(ruleCreateIndex, fmt.Sprintf(msgPartitionedIndex, table))
		case is.Concurrent, f.isNew(is.Relation):
		case only:
			flagMsg(ruleCreateIndex, fmt.Sprintf(msgMaybePartitioned, table, table))
		default:
			flag(ruleCreateIndex)
		}
		if !is.Concurrent {
			lockWait(is.Relation)
		}
		idempotent(is.IfNotExists)
		if is.Idxname != "" {
			f.newIndexes[is.Idxname] = true
		}

	case *pganalyze.Node_DropStmt:
		ds := s.DropStmt
		switch ds.RemoveType {
		case pganalyze.ObjectType_OBJECT_TABLE:
			names := objectNames(ds.Objects)
			if name, ok := f.firstOld(names); ok {
				flag(ruleDropTable)
				lockWait(rangeVar(name))
			}
			for _, n := range names {
				c.forgetTable(n, "")
			}
		case pganalyze.ObjectType_OBJECT_VIEW, pganalyze.ObjectType_OBJECT_MATVIEW:
			names := objectNames(ds.Objects)
			if name, ok := f.firstOld(names); ok {
				if !f.recreated(names) {
					flag(ruleDropView)
				}
				lockWait(rangeVar(name))
			}
		case pganalyze.ObjectType_OBJECT_INDEX:
			concurrent(ds.Concurrent)
			if !ds.Concurrent {
				for _, name := range objectNames(ds.Objects) {
					if !f.newIndexes[lastPart(name)] {
						flag(ruleDropIndex)
						// The index's table is not named: any lock on it waits.
						if !f.lockTimeout {
							flag(ruleMissingLockTimeout)
						}
						break
					}
				}
			}
		case pganalyze.ObjectType_OBJECT_TRIGGER:
			// DROP TRIGGER name ON table: the object is [schema.]table.name.
			for _, o := range ds.Objects {
				if parts := listStrings(o); len(parts) >= 2 {
					lockWait(rangeVar(tableKey(qualified(parts[:len(parts)-1]))))
				}
			}
		case pganalyze.ObjectType_OBJECT_SCHEMA:
			if ds.Behavior == pganalyze.DropBehavior_DROP_CASCADE {
				flag(ruleDropSchemaCascade)
			}
		case pganalyze.ObjectType_OBJECT_FUNCTION, pganalyze.ObjectType_OBJECT_PROCEDURE,
			pganalyze.ObjectType_OBJECT_ROUTINE:
			for _, o := range ds.Objects {
				if !f.newFunctions[funcKey(o.GetObjectWithArgs().GetObjname())] {
					flag(ruleDropFunction)
					break
				}
			}
		}
		idempotent(ds.MissingOk)

	case *pganalyze.Node_RenameStmt:
		rs := s.RenameStmt
		isNew := f.isNew(rs.Relation)
		switch rs.RenameType {
		case pganalyze.ObjectType_OBJECT_TABLE:
			if !isNew {
				flag(ruleRenameTable)
			}
		case pganalyze.ObjectType_OBJECT_COLUMN:
			if !isNew {
				flag(ruleRenameColumn)
			}
		}
		if rs.Relation != nil && !isNew && !f.lockTimeout {
			flag(ruleMissingLockTimeout)
		}
		idempotent(false) // no IF NOT EXISTS form: a re-run fails
		switch rs.RenameType {
		case pganalyze.ObjectType_OBJECT_TABLE:
			to := tableKey(&pganalyze.RangeVar{Schemaname: rs.Relation.Schemaname, Relname: rs.Newname})
			if isNew {
				f.newTables[to] = true
			}
			c.forgetTable(tableKey(rs.Relation), to)
		case pganalyze.ObjectType_OBJECT_COLUMN:
			from, to := tableKey(rs.Relation)+"."+rs.Subname, tableKey(rs.Relation)+"."+rs.Newname
			if t, ok := c.colTypes[from]; ok {
				c.colTypes[to] = t
			} else {
				delete(c.colTypes, to)
			}
			delete(c.colTypes, from)
		}

	case *pganalyze.Node_AlterTableStmt:
		hits = append(hits, c.alterTable(s.AlterTableStmt)...)

	case *pganalyze.Node_TruncateStmt:
		for _, r := range s.TruncateStmt.Relations {
			if !f.isNew(r.GetRangeVar()) {
				flag(ruleTruncate)
				lockWait(r.GetRangeVar())
				break
			}
		}

	case *pganalyze.Node_ReindexStmt:
		rs := s.ReindexStmt
		conc := false
		for _, p := range rs.Params {
			if d := p.GetDefElem(); d != nil && d.Defname == "concurrently" {
				conc = d.Arg == nil || d.Arg.GetBoolean().GetBoolval()
			}
		}
		concurrent(conc)
		switch {
		case conc:
		case rs.Kind == pganalyze.ReindexObjectType_REINDEX_OBJECT_INDEX:
			if rs.Relation == nil || !f.newIndexes[rs.Relation.Relname] {
				flag(ruleReindex)
				if !f.lockTimeout {
					flag(ruleMissingLockTimeout)
				}
			}
		case rs.Kind == pganalyze.ReindexObjectType_REINDEX_OBJECT_TABLE:
			if !f.isNew(rs.Relation) {
				flag(ruleReindex)
				lockWait(rs.Relation)
			}
		default: // SCHEMA, SYSTEM, DATABASE: every table in them
			flag(ruleReindex)
		}

	case *pganalyze.Node_ClusterStmt:
		if !f.isNew(s.ClusterStmt.Relation) {
			flagMsg(ruleTableRewrite, msgCluster)
			lockWait(s.ClusterStmt.Relation)
		}

	case *pganalyze.Node_VacuumStmt:
		vs := s.VacuumStmt
		if vs.IsVacuumcmd && hasOption(vs.Options, "full") {
			rels := vacuumRels(vs.Rels)
			if len(rels) == 0 || slices.ContainsFunc(rels, func(r *pganalyze.RangeVar) bool { return !f.isNew(r) }) {
				flagMsg(ruleTableRewrite, msgVacuumFull)
			}
		}

	case *pganalyze.Node_AlterTableMoveAllStmt:
		flag(ruleTableRewrite)

	case *pganalyze.Node_RefreshMatViewStmt:
		if rm := s.RefreshMatViewStmt; !rm.Concurrent && !f.isNew(rm.Relation) {
			flag(ruleRefreshMatView)
			lockWait(rm.Relation)
		}

	case *pganalyze.Node_LockStmt:
		ls := s.LockStmt
		var old *pganalyze.RangeVar
		for _, r := range ls.Relations {
			if !f.isNew(r.GetRangeVar()) {
				old = r.GetRangeVar()
				break
			}
		}
		// Modes 1-4 (ACCESS SHARE to SHARE UPDATE EXCLUSIVE) let writes through.
		if old != nil && ls.Mode >= shareLock {
			flag(ruleLockTable)
		}
		if !ls.Nowait {
			lockWait(old)
		}

	case *pganalyze.Node_CreateTrigStmt:
		idempotent(s.CreateTrigStmt.Replace)
		lockWait(s.CreateTrigStmt.Relation)
	case *pganalyze.Node_CreatePolicyStmt:
		lockWait(s.CreatePolicyStmt.Table)

	case *pganalyze.Node_TransactionStmt:
		switch s.TransactionStmt.Kind {
		case pganalyze.TransactionStmtKind_TRANS_STMT_BEGIN, pganalyze.TransactionStmtKind_TRANS_STMT_START,
			pganalyze.TransactionStmtKind_TRANS_STMT_COMMIT, pganalyze.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pganalyze.TransactionStmtKind_TRANS_STMT_PREPARE:
			if !f.noTx {
				flag(ruleTransactionControl)
			}
		}

	case *pganalyze.Node_UpdateStmt:
		if us := s.UpdateStmt; us.WhereClause == nil && !f.isNew(us.Relation) {
			flag(ruleWholeTableWrite)
		}
	case *pganalyze.Node_DeleteStmt:
		if ds := s.DeleteStmt; ds.WhereClause == nil && !f.isNew(ds.Relation) {
			flag(ruleWholeTableWrite)
		}

	case *pganalyze.Node_DoStmt:
		hits = append(hits, c.doBlock(s.DoStmt)...)

	case *pganalyze.Node_VariableSetStmt:
		vs := s.VariableSetStmt
		if vs.Name == "lock_timeout" {
			// SET LOCAL outside a transaction block is a no-op with a warning.
			f.lockTimeout = vs.Kind == pganalyze.VariableSetKind_VAR_SET_VALUE &&
				!(vs.IsLocal && f.noTx) && !zeroTimeout(vs.Args)
		}

	case *pganalyze.Node_SelectStmt:
		if set, ok := setConfigLockTimeout(s.SelectStmt); ok {
			f.lockTimeout = set
		}

	case *pganalyze.Node_CreateSeqStmt:
		idempotent(s.CreateSeqStmt.IfNotExists)
	case *pganalyze.Node_CreateSchemaStmt:
		idempotent(s.CreateSchemaStmt.IfNotExists)
	case *pganalyze.Node_CreateExtensionStmt:
		idempotent(s.CreateExtensionStmt.IfNotExists)
	case *pganalyze.Node_ViewStmt:
		idempotent(s.ViewStmt.Replace)
		if !s.ViewStmt.Replace {
			f.newTables[tableKey(s.ViewStmt.View)] = true
		}
	case *pganalyze.Node_CreateFunctionStmt:
		idempotent(s.CreateFunctionStmt.Replace)
		f.newFunctions[funcKey(s.CreateFunctionStmt.Funcname)] = true
	case *pganalyze.Node_CreateEnumStmt:
		idempotent(false)
	case *pganalyze.Node_CompositeTypeStmt:
		idempotent(false)
	case *pganalyze.Node_AlterEnumStmt:
		ae := s.AlterEnumStmt
		idempotent(ae.NewVal == "" || ae.SkipIfNewValExists)
		if ae.OldVal != "" {
			flag(ruleRenameEnumValue)
		}
	}
	return hits
}

// alterTable checks each subcommand of an ALTER TABLE.
func (c *checker) alterTable(at *pganalyze.AlterTableStmt) []hit {
	f := &c.cur
	var hits []hit
	flag := func(rule, msg string) {
		if msg == "" {
			msg = messages[rule]
		}
		hits = append(hits, hit{rule: rule, msg: msg})
	}
	switch at.Objtype {
	case pganalyze.ObjectType_OBJECT_TABLE:
	case pganalyze.ObjectType_OBJECT_INDEX, pganalyze.ObjectType_OBJECT_MATVIEW:
		for _, node := range at.Cmds {
			if cmd := node.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pganalyze.AlterTableType_AT_SetTableSpace {
				flag(ruleTableRewrite, msgSetTablespace)
			}
		}
		return hits
	default:
		return nil
	}
	table := tableKey(at.Relation)
	isNew := f.newTables[table]
	locks := false
	for _, node := range at.Cmds {
		cmd := node.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		if cmd.Subtype != pganalyze.AlterTableType_AT_ValidateConstraint {
			// VALIDATE takes SHARE UPDATE EXCLUSIVE, which lets reads and
			// writes through: everything else can queue them.
			locks = true
		}
		if f.noTx && !idempotentCmd(cmd) {
			flag(ruleNonIdempotentDDL, "")
		}
		switch cmd.Subtype {
		case pganalyze.AlterTableType_AT_DropColumn:
			if !isNew {
				flag(ruleDropColumn, "")
			}
			delete(c.colTypes, table+"."+cmd.Name)
		case pganalyze.AlterTableType_AT_AlterColumnType:
			if h := c.changeType(table, cmd); h != nil && !isNew {
				flag(h.rule, h.msg)
			}
		case pganalyze.AlterTableType_AT_DropNotNull:
			if !isNew {
				flag(ruleDropNotNull, "")
			}
		case pganalyze.AlterTableType_AT_SetNotNull:
			if !isNew && !c.notNull[table+"."+cmd.Name] {
				flag(ruleSetNotNull, "")
			}
		case pganalyze.AlterTableType_AT_AddColumn:
			// IF NOT EXISTS on a column that exists changes nothing.
			if cd := cmd.Def.GetColumnDef(); !cmd.MissingOk || c.colTypes[table+"."+cd.GetColname()] == "" {
				c.recordColumn(table, cd)
			}
			if !isNew {
				for _, h := range addColumn(cmd.Def.GetColumnDef()) {
					flag(h.rule, h.msg)
				}
			}
		case pganalyze.AlterTableType_AT_AddConstraint:
			con := cmd.Def.GetConstraint()
			if con == nil {
				continue
			}
			if !isNew {
				for _, h := range addConstraint(con) {
					flag(h.rule, h.msg)
				}
			}
			c.recordNotNullCheck(table, con)
			if con.SkipValidation {
				f.notValid[table+"."+con.Conname] = true
			}
		case pganalyze.AlterTableType_AT_ValidateConstraint:
			if col, ok := c.pendingNotNull[table+"."+cmd.Name]; ok {
				c.notNull[col] = true
			}
			if f.notValid[table+"."+cmd.Name] && !f.noTx && !isNew {
				flag(ruleConstraintNotValid, msgValidateSameTx)
			}
		case pganalyze.AlterTableType_AT_SetLogged, pganalyze.AlterTableType_AT_SetUnLogged:
			if !isNew {
				flag(ruleTableRewrite, msgSetLogged)
			}
		case pganalyze.AlterTableType_AT_SetTableSpace:
			if !isNew {
				flag(ruleTableRewrite, msgSetTablespace)
			}
		case pganalyze.AlterTableType_AT_DisableTrigAll:
			if !isNew {
				flag(ruleDisableTriggerAll, "")
			}
		case pganalyze.AlterTableType_AT_DetachPartition:
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent && !f.noTx {
				flag(ruleConcurrentlyInTx, "")
			}
		}
	}
	if locks && !isNew && !f.lockTimeout {
		flag(ruleMissingLockTimeout, "")
	}
	return hits
}

// idempotentCmd reports whether re-running the subcommand after it already
// succeeded is harmless.
func idempotentCmd(cmd *pganalyze.AlterTableCmd) bool {
	switch cmd.Subtype {
	case pganalyze.AlterTableType_AT_AddColumn, pganalyze.AlterTableType_AT_DropColumn,
		pganalyze.AlterTableType_AT_DropConstraint:
		return cmd.MissingOk
	case pganalyze.AlterTableType_AT_AddConstraint, pganalyze.AlterTableType_AT_AddIndex,
		pganalyze.AlterTableType_AT_AddIndexConstraint:
		return false
	}
	// SET/DROP NOT NULL, SET DEFAULT, VALIDATE ... converge on a re-run.
	return true
}

// addColumn checks ADD COLUMN on a table that has readers.
func addColumn(cd *pganalyze.ColumnDef) []hit {
	if cd == nil {
		return nil
	}
	var hits []hit
	var notNull, hasDefault, generated, volatileDefault bool
	serial := isSerial(cd.TypeName)
	for _, n := range cd.Constraints {
		con := n.GetConstraint()
		if con == nil {
			continue
		}
		switch con.Contype {
		case pganalyze.ConstrType_CONSTR_NOTNULL:
			notNull = true
		case pganalyze.ConstrType_CONSTR_DEFAULT:
			hasDefault = true
			volatileDefault = volatile(con.RawExpr)
		case pganalyze.ConstrType_CONSTR_IDENTITY:
			serial = true
		case pganalyze.ConstrType_CONSTR_GENERATED:
			generated = true
		case pganalyze.ConstrType_CONSTR_PRIMARY:
			hits = append(hits, hit{ruleAddPrimaryKey, messages[ruleAddPrimaryKey]})
		case pganalyze.ConstrType_CONSTR_UNIQUE:
			hits = append(hits, hit{ruleConstraintNotValid, msgUniqueConstraint})
		case pganalyze.ConstrType_CONSTR_FOREIGN, pganalyze.ConstrType_CONSTR_CHECK:
			hits = append(hits, hit{ruleConstraintNotValid, msgColumnConstraint})
		}
	}
	if volatileDefault || serial {
		hits = append(hits, hit{ruleAddColumnVolatileDefault, messages[ruleAddColumnVolatileDefault]})
	}
	if generated {
		hits = append(hits, hit{ruleAddColumnVolatileDefault, msgGeneratedColumn})
	}
	if notNull && !hasDefault && !serial && !generated {
		hits = append(hits, hit{ruleAddColumnNotNull, messages[ruleAddColumnNotNull]})
	}
	return hits
}

// addConstraint checks ADD CONSTRAINT on a table that has readers.
func addConstraint(con *pganalyze.Constraint) []hit {
	switch con.Contype {
	case pganalyze.ConstrType_CONSTR_PRIMARY:
		if con.Indexname == "" {
			return []hit{{ruleAddPrimaryKey, messages[ruleAddPrimaryKey]}}
		}
	case pganalyze.ConstrType_CONSTR_UNIQUE:
		if con.Indexname == "" {
			return []hit{{ruleConstraintNotValid, msgUniqueConstraint}}
		}
	case pganalyze.ConstrType_CONSTR_FOREIGN, pganalyze.ConstrType_CONSTR_CHECK:
		if !con.SkipValidation {
			return []hit{{ruleConstraintNotValid, messages[ruleConstraintNotValid]}}
		}
	case pganalyze.ConstrType_CONSTR_EXCLUSION:
		return []hit{{ruleExclusionConstraint, messages[ruleExclusionConstraint]}}
	}
	return nil
}

// recordNotNullCheck remembers CHECK (col IS NOT NULL), the constraint that
// makes a later SET NOT NULL cheap once validated.
func (c *checker) recordNotNullCheck(table string, con *pganalyze.Constraint) {
	if con.Contype != pganalyze.ConstrType_CONSTR_CHECK {
		return
	}
	nt := con.RawExpr.GetNullTest()
	if nt == nil || nt.Nulltesttype != pganalyze.NullTestType_IS_NOT_NULL {
		return
	}
	ref := nt.Arg.GetColumnRef()
	if ref == nil || len(ref.Fields) != 1 || ref.Fields[0].GetString_() == nil {
		return
	}
	col := table + "." + ref.Fields[0].GetString_().Sval
	if con.SkipValidation {
		c.pendingNotNull[table+"."+con.Conname] = col
		return
	}
	c.notNull[col] = true
}

// isNew reports whether rel was created earlier in this file.
func (f *fileState) isNew(rel *pganalyze.RangeVar) bool {
	return rel != nil && f.newTables[tableKey(rel)]
}

// tableKey names a table the same way however it is written; public is the
// schema an unqualified name means in Slipway's migrations.
func tableKey(rel *pganalyze.RangeVar) string {
	if rel == nil {
		return ""
	}
	if rel.Schemaname == "" || rel.Schemaname == "public" {
		return rel.Relname
	}
	return rel.Schemaname + "." + rel.Relname
}

// objectNames gives DROP's object names as table keys.
func objectNames(objects []*pganalyze.Node) []string {
	var names []string
	for _, o := range objects {
		if parts := listStrings(o); len(parts) > 0 {
			names = append(names, tableKey(qualified(parts)))
		}
	}
	return names
}

func lastPart(name string) string {
	return name[strings.LastIndex(name, ".")+1:]
}

func isSerial(tn *pganalyze.TypeName) bool {
	if tn == nil || len(tn.Names) == 0 {
		return false
	}
	switch tn.Names[len(tn.Names)-1].GetString_().GetSval() {
	case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
		return true
	}
	return false
}

// stableFuncs are functions known not to be VOLATILE. Any other call in a
// default counts as volatile, because a user-defined function is VOLATILE
// unless declared otherwise, and a rewrite of a big table is the costlier
// mistake; a STABLE function of your own takes an opt-out.
var stableFuncs = map[string]bool{
	"now": true, "statement_timestamp": true, "transaction_timestamp": true,
	"current_setting": true, "timezone": true, "date_trunc": true, "make_interval": true,
	"make_date": true, "make_timestamp": true, "make_timestamptz": true, "to_timestamp": true,
	"to_date": true, "to_char": true, "lower": true, "upper": true, "btrim": true, "trim": true,
	"concat": true, "length": true, "md5": true, "format": true, "abs": true, "round": true,
	"floor": true, "ceil": true, "greatest": true, "least": true, "nullif": true,
	"jsonb_build_object": true, "jsonb_build_array": true, "json_build_object": true,
	"json_build_array": true, "to_jsonb": true, "to_json": true, "array_fill": true,
}

// volatile reports whether a default expression calls anything that may be
// VOLATILE, which makes ADD COLUMN rewrite the table.
func volatile(expr *pganalyze.Node) bool {
	found := false
	walk(expr.ProtoReflect(), func(m protoreflect.Message) {
		fc, ok := m.Interface().(*pganalyze.FuncCall)
		if !ok || found {
			return
		}
		names := fc.Funcname
		if len(names) == 0 {
			return
		}
		name := names[len(names)-1].GetString_().GetSval()
		schema := ""
		if len(names) > 1 {
			schema = names[len(names)-2].GetString_().GetSval()
		}
		if !stableFuncs[name] || (schema != "" && schema != "pg_catalog") {
			found = true
		}
	})
	return found
}

// walk visits m and every message below it: defaults can nest calls in casts,
// operators and CASE, and the generated tree has no visitor.
func walk(m protoreflect.Message, visit func(protoreflect.Message)) {
	if !m.IsValid() {
		return
	}
	visit(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), visit)
			}
		case fd.Message() != nil && !fd.IsMap():
			walk(v.Message(), visit)
		}
		return true
	})
}

// zeroTimeout reports whether SET lock_timeout sets 0, which disables it.
func zeroTimeout(args []*pganalyze.Node) bool {
	if len(args) != 1 {
		return false
	}
	ac := args[0].GetAConst()
	if ac == nil {
		return false
	}
	if iv := ac.GetIval(); iv != nil {
		return iv.Ival == 0
	}
	if sv := ac.GetSval(); sv != nil {
		v := strings.TrimSpace(sv.Sval)
		return v == "0" || v == "0ms" || v == "0s"
	}
	return false
}

// setConfigLockTimeout recognises SELECT set_config('lock_timeout', v, ...).
func setConfigLockTimeout(sel *pganalyze.SelectStmt) (set, ok bool) {
	for _, t := range sel.TargetList {
		fc := t.GetResTarget().GetVal().GetFuncCall()
		if fc == nil || len(fc.Funcname) == 0 || len(fc.Args) < 2 {
			continue
		}
		if fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval() != "set_config" {
			continue
		}
		if fc.Args[0].GetAConst().GetSval().GetSval() != "lock_timeout" {
			continue
		}
		return !zeroTimeout(fc.Args[1:2]), true
	}
	return false, false
}
