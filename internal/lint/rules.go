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
	ruleChangeColumnType: "changing the type rewrites the table under an ACCESS EXCLUSIVE lock and can break " +
		"the running binary; add a column of the new type, write to both, backfill in batches, " +
		"switch reads, drop the old column in a later release",
	ruleAddColumnNotNull: "fails on a non-empty table and breaks inserts from the running binary; " +
		"add the column nullable or with a constant DEFAULT, backfill in batches, then add " +
		"CHECK (col IS NOT NULL) NOT VALID and VALIDATE CONSTRAINT",
	ruleSetNotNull: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock; add " +
		"CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it (a later migration is best), " +
		"then SET NOT NULL, which skips the scan, and drop the check",
	ruleAddColumnVolatileDefault: "a volatile default (or serial/identity) rewrites the table under an " +
		"ACCESS EXCLUSIVE lock; add the column without a default or with a constant one, " +
		"SET DEFAULT in a separate statement, and backfill existing rows in batches",
	ruleCreateIndex: "CREATE INDEX blocks writes to the table for the whole build; use " +
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS in a migration with -- +goose NO TRANSACTION",
	ruleDropIndex: "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table; use " +
		"DROP INDEX CONCURRENTLY IF EXISTS in a migration with -- +goose NO TRANSACTION",
	ruleConcurrentlyInTx: "CONCURRENTLY cannot run inside a transaction block and goose wraps this file in one; " +
		"move the statement to its own migration with -- +goose NO TRANSACTION",
	ruleConstraintNotValid: "adding the constraint checks every row under a lock that blocks writes; " +
		"add it with NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a separate statement or migration",
	ruleAddPrimaryKey: "adding a primary key builds an index and checks NOT NULL under an ACCESS EXCLUSIVE " +
		"lock; CREATE UNIQUE INDEX CONCURRENTLY (NO TRANSACTION migration), make the columns NOT NULL " +
		"safely, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
	ruleDropNotNull: "the running binary may read NULL into a field that cannot hold it; " +
		"first ship code that handles NULL, then drop NOT NULL in a later migration with " +
		"-- slipway:allow drop-not-null <release that handles NULL>",
	ruleTruncate: "TRUNCATE deletes rows the running binary still reads and takes an ACCESS EXCLUSIVE lock; " +
		"ship code that no longer needs the rows, then DELETE in batches",
	ruleMissingLockTimeout: "this ALTER waits for a table lock, and every query on the table queues behind it " +
		"meanwhile; SET lock_timeout = '2s' earlier in the file so it fails fast, then retry the deploy",
	ruleNonIdempotentDDL: "a NO TRANSACTION migration that fails halfway is re-run from the top; make every " +
		"statement re-runnable with IF NOT EXISTS / IF EXISTS (before CREATE INDEX CONCURRENTLY IF NOT EXISTS, " +
		"DROP INDEX CONCURRENTLY IF EXISTS the invalid leftover) or move it to a transactional migration",
	ruleAllowWithoutReason: "an opt-out must say why the statement is safe: " +
		"-- slipway:allow <rule> <reason>",
}

// Messages for rules whose safe alternative depends on the statement.
const (
	msgUniqueConstraint = "a UNIQUE constraint builds its index under a lock that blocks writes, and cannot be " +
		"NOT VALID; CREATE UNIQUE INDEX CONCURRENTLY (NO TRANSACTION migration), then " +
		"ADD CONSTRAINT ... UNIQUE USING INDEX"
	msgColumnConstraint = "a constraint on an added column checks every row under a lock that blocks writes; " +
		"add the column bare, then ADD CONSTRAINT ... NOT VALID and VALIDATE CONSTRAINT in a separate statement"
)

// optOutable lists the rules a `slipway:allow` comment may name: the
// opt-out and syntax findings themselves cannot be silenced.
var optOutable = map[string]bool{
	ruleDropTable: true, ruleDropColumn: true, ruleRenameTable: true, ruleRenameColumn: true,
	ruleChangeColumnType: true, ruleAddColumnNotNull: true, ruleSetNotNull: true,
	ruleAddColumnVolatileDefault: true, ruleCreateIndex: true, ruleDropIndex: true,
	ruleConcurrentlyInTx: true, ruleConstraintNotValid: true, ruleAddPrimaryKey: true,
	ruleDropNotNull: true, ruleTruncate: true, ruleMissingLockTimeout: true, ruleNonIdempotentDDL: true,
}
