package lint

// Rule names, as printed in findings and named in `slipway:allow` comments.
const (
	ruleDropTable                = "drop-table"
	ruleDropColumn               = "drop-column"
	ruleRenameTable              = "rename-table"
	ruleRenameColumn             = "rename-column"
	ruleChangeColumnType         = "change-column-type"
	ruleAddColumnNotNull         = "add-column-not-null-without-default"
	ruleSetNotNull               = "set-not-null"
	ruleAddColumnVolatileDefault = "add-column-volatile-default"
	ruleCreateIndex              = "create-index-non-concurrently"
	ruleDropIndex                = "drop-index-non-concurrently"
	ruleConcurrentlyInTx         = "concurrently-in-transaction"
	ruleConstraintNotValid       = "constraint-without-not-valid"
	ruleAddPrimaryKey            = "add-primary-key"
	ruleDropNotNull              = "drop-not-null"
	ruleTruncate                 = "truncate"
	ruleMissingLockTimeout       = "missing-lock-timeout"
	ruleNonIdempotentDDL         = "non-idempotent-ddl"
	ruleReindex                  = "reindex-non-concurrently"
	ruleExclusionConstraint      = "add-exclusion-constraint"
	ruleTransactionControl       = "transaction-control"
	ruleTableRewrite             = "table-rewrite"
	ruleRefreshMatView           = "refresh-materialized-view-non-concurrently"
	ruleLockTable                = "lock-table"
	ruleRenameEnumValue          = "rename-enum-value"
	ruleDisableTriggerAll        = "disable-trigger-all"
	ruleDropView                 = "drop-view"
	ruleDropSchemaCascade        = "drop-schema-cascade"
	ruleDropFunction             = "drop-function"
	ruleWholeTableWrite          = "update-or-delete-without-where"
	ruleDoBlock                  = "do-block-not-checked"
	ruleAllowWithoutReason       = "allow-without-reason"
	ruleAllowUnknownRule         = "allow-unknown-rule"
	ruleSyntax                   = "syntax"
)

// messages say what breaks and, always, the safe alternative: a finding
// that only says "no" gets opted out instead of fixed.
var messages = map[string]string{
	ruleDropTable: "the running binary still reads this table; contract in two releases: " +
		"ship code that no longer uses it, then drop it in a later migration with " +
		"-- slipway:allow drop-table <release that stopped using it>",
	ruleDropColumn: "the running binary still selects or inserts this column; contract in two releases: " +
		"ship code that no longer uses it, then drop it in a later migration with " +
		"-- slipway:allow drop-column <release that stopped using it>",
	ruleRenameTable: "the running binary still uses the old name; expand/contract instead: " +
		"create the new table, write to both, backfill, switch reads, drop the old table in a later release",
	ruleRenameColumn: "the running binary still uses the old name; expand/contract instead: " +
		"add the new column, write to both, backfill in batches, switch reads, drop the old column in a later release",
	ruleChangeColumnType: "changing the column's type rewrites the table under an ACCESS EXCLUSIVE lock and can " +
		"break the running binary; " + changeTypeFix,
	ruleAddColumnNotNull: "fails on a non-empty table and breaks inserts from the running binary; " +
		"add the column nullable or with a constant DEFAULT, backfill in batches, then add " +
		"CHECK (col IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT",
	ruleSetNotNull: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock; add " +
		"CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later migration, " +
		"then SET NOT NULL, which skips the scan, and drop the check",
	ruleAddColumnVolatileDefault: "a volatile default (or serial/identity, or a STORED generated column) rewrites the table under an " +
		"ACCESS EXCLUSIVE lock; add the column without a default or with a constant one, " +
		"SET DEFAULT in a separate statement, and backfill existing rows in batches",
	ruleCreateIndex: "CREATE INDEX blocks writes to the table for the whole build; use " +
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration with -- +goose NO TRANSACTION " +
		"(a partitioned table refuses CONCURRENTLY: there, " + partitionedIndexFix + ")",
	ruleDropIndex: "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table; use " +
		"DROP INDEX CONCURRENTLY IF EXISTS in a migration with -- +goose NO TRANSACTION",
	ruleConcurrentlyInTx: "CONCURRENTLY cannot run inside a transaction block and goose wraps this file in one; " +
		"move the statement to its own migration with -- +goose NO TRANSACTION",
	ruleConstraintNotValid: "adding the constraint checks every row under a lock that blocks writes; " +
		"add it with NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration",
	ruleAddPrimaryKey: "adding a primary key builds an index and checks NOT NULL under an ACCESS EXCLUSIVE " +
		"lock; CREATE UNIQUE INDEX CONCURRENTLY (NO TRANSACTION migration), make the columns NOT NULL " +
		"safely, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
	ruleDropNotNull: "the running binary may read NULL into a field that cannot hold it; " +
		"first ship code that handles NULL, then drop NOT NULL in a later migration with " +
		"-- slipway:allow drop-not-null <release that handles NULL>",
	ruleTruncate: "TRUNCATE deletes rows the running binary still reads and takes an ACCESS EXCLUSIVE lock; " +
		"ship code that no longer needs the rows, then DELETE in batches",
	ruleMissingLockTimeout: "this statement waits for a lock on a table the running binary uses, and every query " +
		"on that table queues behind it meanwhile; SET lock_timeout = '2s' earlier in the file so it fails fast, " +
		"then retry the deploy",
	ruleNonIdempotentDDL: "a NO TRANSACTION migration that fails halfway is re-run from the top; make every " +
		"statement re-runnable with IF NOT EXISTS / IF EXISTS (before CREATE INDEX CONCURRENTLY IF NOT EXISTS, " +
		"DROP INDEX CONCURRENTLY IF EXISTS the invalid leftover) or move it to a transactional migration",
	ruleReindex: "REINDEX without CONCURRENTLY blocks writes to the table and reads through the index while it " +
		"rebuilds; use REINDEX ... CONCURRENTLY in a migration with -- +goose NO TRANSACTION",
	ruleExclusionConstraint: "an EXCLUDE constraint builds its index under an ACCESS EXCLUSIVE lock, and PostgreSQL " +
		"has no NOT VALID or USING INDEX form for it; declare it when the table is created, or add it while the " +
		"table is small or nothing is serving, with -- slipway:allow add-exclusion-constraint <why the lock is short>",
	ruleTransactionControl: "goose already runs this file in a transaction: COMMIT or ROLLBACK ends it halfway " +
		"and the rest runs outside it (BEGIN only warns); remove the statement, or mark the file " +
		"-- +goose NO TRANSACTION if it needs its own transaction boundaries",
	ruleTableRewrite: "this rewrites or copies the whole relation under an ACCESS EXCLUSIVE lock, blocking reads " +
		"and writes; do it while nothing is serving with -- slipway:allow table-rewrite <reason>, or online with pg_repack",
	ruleRefreshMatView: "REFRESH MATERIALIZED VIEW takes an ACCESS EXCLUSIVE lock: the running binary's reads of " +
		"the view block until it finishes; give the view a unique index and REFRESH MATERIALIZED VIEW CONCURRENTLY",
	ruleLockTable: "an explicit LOCK TABLE in SHARE mode or stronger blocks the running binary's writes (ACCESS " +
		"EXCLUSIVE: its reads too) until goose commits the file; drop it and let each statement take the lock it " +
		"needs, or keep the file short with lock_timeout set and opt out with -- slipway:allow lock-table <reason>",
	ruleRenameEnumValue: "the running binary still reads and writes the old label, and its writes fail once it is " +
		"renamed; ADD VALUE the new label, ship code that writes it and reads both, migrate the rows in batches, " +
		"and stop using the old label in a later release",
	ruleDisableTriggerAll: "DISABLE TRIGGER ALL also disables the foreign-key triggers, so the running binary's " +
		"writes go unchecked meanwhile, and it locks out writes; disable only your own triggers by name " +
		"(DISABLE TRIGGER name), or do the backfill without disabling them",
	ruleDropView: "the running binary may still query this view (the linter can't see the app's queries); " +
		"contract in two releases: ship code that no longer uses it, then drop it in a later migration with " +
		"-- slipway:allow drop-view <release that stopped using it>",
	ruleDropSchemaCascade: "CASCADE drops every table, view and function in the schema, whatever the running " +
		"binary still uses; drop each object explicitly in a release after the code stopped using it, then " +
		"DROP SCHEMA without CASCADE, which fails if anything is left",
	ruleDropFunction: "the running binary may still call this function, or a trigger or default may (the linter " +
		"can't see the app's queries); contract in two releases: ship code that no longer calls it, then drop it " +
		"in a later migration with -- slipway:allow drop-function <release that stopped calling it>",
	ruleWholeTableWrite: "without WHERE this touches every row in one statement and holds a row lock on each until " +
		"the migration commits, blocking the running binary's writes to them; backfill in batches " +
		"(WHERE id > $last ORDER BY id LIMIT n, one transaction each) from the app or a -- +goose NO TRANSACTION " +
		"migration, or opt out for a small table with -- slipway:allow update-or-delete-without-where <row count>",
	ruleDoBlock: "this DO block runs SQL built at run time (EXECUTE), or is not PL/pgSQL, so the linter can't see " +
		"what it does: locks and rewrites in it go unflagged; write the statements out (plain, or in the block), " +
		"or review it and opt out with -- slipway:allow do-block-not-checked <what it runs and why that is safe>",
	ruleAllowWithoutReason: "an opt-out must say why the statement is safe: " +
		"-- slipway:allow <rule> <reason>",
}

// Messages for rules whose safe alternative depends on the statement.
const (
	changeTypeFix = "add a column of the new type, write to both, backfill in batches, switch reads, drop the " +
		"old column in a later release"
	// msgChangeType takes the old and the new type.
	msgChangeType = "changing %s to %s rewrites the table under an ACCESS EXCLUSIVE lock and can break the " +
		"running binary; " + changeTypeFix
	// msgChangeTypeUnknown takes table.column.
	msgChangeTypeUnknown = "changing the type rewrites the table under an ACCESS EXCLUSIVE lock unless it only " +
		"widens (varchar(n) to varchar(m>=n) or text, numeric(p,s) to numeric(p'>=p,s), varbit(n) wider), and " +
		"the linter can't tell: %s is not declared in this migrations folder; " + changeTypeFix +
		", or, if it is such a widening, opt out with -- slipway:allow change-column-type <old type>"
	partitionedIndexFix = "CREATE INDEX ... ON ONLY the parent (instant: it indexes no partition and starts " +
		"invalid), CREATE INDEX CONCURRENTLY on each partition in a -- +goose NO TRANSACTION migration, then " +
		"ALTER INDEX <parent index> ATTACH PARTITION <partition index> for each; the parent index turns valid " +
		"once every partition's is attached"
	// msgPartitionedIndex takes the table.
	msgPartitionedIndex = "%s is partitioned: a plain CREATE INDEX blocks writes to every partition for the " +
		"whole build, and PostgreSQL refuses CONCURRENTLY on a partitioned table; " + partitionedIndexFix
	// msgMaybePartitioned takes the table twice.
	msgMaybePartitioned = "ON ONLY is the first step of indexing a partitioned table, but %s is not created " +
		"with PARTITION BY in this migrations folder, so the linter can't tell: on a table that isn't " +
		"partitioned this blocks writes for the whole build; if %s is partitioned, opt out with " +
		"-- slipway:allow create-index-non-concurrently <table> is partitioned"
	msgUniqueConstraint = "a UNIQUE constraint builds its index under a lock that blocks writes, and cannot be " +
		"NOT VALID; CREATE UNIQUE INDEX CONCURRENTLY (NO TRANSACTION migration), then " +
		"ADD CONSTRAINT ... UNIQUE USING INDEX"
	msgGeneratedColumn = "a STORED generated column computes every existing row: ADD COLUMN rewrites the table " +
		"under an ACCESS EXCLUSIVE lock; add a plain nullable column, fill new rows with a trigger, backfill " +
		"the rest in batches"
	msgSetLogged = "SET LOGGED / SET UNLOGGED rewrites the table under an ACCESS EXCLUSIVE lock; create a new " +
		"table with the persistence you want, copy in batches and switch in a later release, or do it while " +
		"nothing is serving with -- slipway:allow table-rewrite <reason>"
	msgSetTablespace = "SET TABLESPACE copies the whole relation under an ACCESS EXCLUSIVE lock; move it while " +
		"nothing is serving with -- slipway:allow table-rewrite <reason>, or with an online tool like pg_repack"
	msgCluster = "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and writes; use " +
		"pg_repack, or run it while nothing is serving with -- slipway:allow table-rewrite <reason>"
	msgVacuumFull = "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock (and cannot run in goose's " +
		"transaction); use plain VACUUM or pg_repack, or run it outside migrations"
	msgColumnConstraint = "a constraint on an added column checks every row under a lock that blocks writes; " +
		"add the column bare, then ADD CONSTRAINT ... NOT VALID, and VALIDATE CONSTRAINT in a later migration"
	msgValidateSameTx = "this constraint was added NOT VALID earlier in the same transaction, whose lock (ACCESS " +
		"EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE for a foreign key) is still held while VALIDATE scans every " +
		"row; move VALIDATE CONSTRAINT to a later migration, where it takes only SHARE UPDATE EXCLUSIVE"
)

// optOutable lists the rules a `slipway:allow` comment may name: the
// opt-out and syntax findings themselves cannot be silenced.
var optOutable = map[string]bool{
	ruleDropTable: true, ruleDropColumn: true, ruleRenameTable: true, ruleRenameColumn: true,
	ruleChangeColumnType: true, ruleAddColumnNotNull: true, ruleSetNotNull: true,
	ruleAddColumnVolatileDefault: true, ruleCreateIndex: true, ruleDropIndex: true,
	ruleConcurrentlyInTx: true, ruleConstraintNotValid: true, ruleAddPrimaryKey: true,
	ruleDropNotNull: true, ruleTruncate: true, ruleMissingLockTimeout: true, ruleNonIdempotentDDL: true,
	ruleReindex: true, ruleExclusionConstraint: true, ruleTransactionControl: true, ruleTableRewrite: true,
	ruleRefreshMatView: true, ruleLockTable: true, ruleRenameEnumValue: true, ruleDisableTriggerAll: true,
	ruleDropView: true, ruleDropSchemaCascade: true, ruleDropFunction: true, ruleWholeTableWrite: true,
	ruleDoBlock: true,
}
