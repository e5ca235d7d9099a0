package lint

import (
	"slices"
	"strings"
	"testing"
)

// lt is the preamble every ALTER on an existing table needs.
const lt = "SET lock_timeout = '2s';\n"

// noTx marks a file goose runs statement by statement.
const noTx = "-- +goose NO TRANSACTION\n"

// corpus holds, per rule, unsafe statements that must be flagged and their
// safe rewrites, which must come out with no finding at all.
var corpus = []struct {
	rule string
	bad  []string
	good []string
}{
	{ruleDropTable,
		[]string{
			"DROP TABLE users;",
			"DROP TABLE IF EXISTS scratch, public.users;",
		},
		[]string{
			"-- slipway:allow drop-table v1.4 stopped reading legacy_sessions\nDROP TABLE legacy_sessions;",
			"CREATE TABLE scratch (id int);\nDROP TABLE scratch;",
		}},
	{ruleDropColumn,
		[]string{
			lt + "ALTER TABLE users DROP COLUMN nickname;",
			lt + "ALTER TABLE users ADD COLUMN bio text, DROP COLUMN IF EXISTS nickname;",
		},
		[]string{
			lt + "ALTER TABLE users DROP COLUMN nickname; -- slipway:allow drop-column v1.4 stopped reading it",
			lt + "-- slipway:allow drop-column v1.4 stopped reading it\nALTER TABLE users DROP COLUMN nickname;",
		}},
	{ruleRenameTable,
		[]string{
			lt + "ALTER TABLE users RENAME TO accounts;",
		},
		[]string{
			"CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL);",
			"CREATE TABLE draft (id int);\nALTER TABLE draft RENAME TO accounts;\nCREATE INDEX accounts_id_idx ON accounts (id);",
		}},
	{ruleRenameColumn,
		[]string{
			lt + "ALTER TABLE users RENAME COLUMN name TO full_name;",
			lt + "ALTER TABLE public.users RENAME name TO full_name;",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN full_name text;",
			"CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;",
		}},
	{ruleChangeColumnType,
		[]string{
			lt + "ALTER TABLE users ALTER COLUMN age TYPE bigint;",
			lt + "ALTER TABLE users ALTER COLUMN age SET DATA TYPE bigint USING age::bigint;",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN age_v2 bigint;",
			"CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;",
		}},
	{ruleAddColumnNotNull,
		[]string{
			lt + "ALTER TABLE users ADD COLUMN plan text NOT NULL;",
			lt + "ALTER TABLE users ADD plan text CONSTRAINT plan_nn NOT NULL;",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';",
			lt + "ALTER TABLE users ADD COLUMN plan text;\n" +
				"ALTER TABLE users ADD CONSTRAINT users_plan_nn CHECK (plan IS NOT NULL) NOT VALID;",
		}},
	{ruleSetNotNull,
		[]string{
			lt + "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
			// Added but never validated: the scan still happens.
			lt + "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n" +
				"ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
			// A check on another column vouches for nothing.
			lt + "ALTER TABLE users ADD CONSTRAINT users_name_nn CHECK (name IS NOT NULL) NOT VALID;\n" +
				"ALTER TABLE users VALIDATE CONSTRAINT users_name_nn;\n" +
				"ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
		},
		[]string{
			lt + "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n" +
				"ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n" +
				"ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n" +
				"ALTER TABLE users DROP CONSTRAINT users_email_nn;",
		}},
	{ruleAddColumnVolatileDefault,
		[]string{
			lt + "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
			lt + "ALTER TABLE users ADD COLUMN seen timestamptz NOT NULL DEFAULT clock_timestamp();",
			lt + "ALTER TABLE users ADD COLUMN n bigserial;",
			lt + "ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;",
			lt + "ALTER TABLE users ADD COLUMN r int DEFAULT (random() * 10)::int;",
			lt + "ALTER TABLE users ADD COLUMN c text DEFAULT app.make_code();",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();",
			lt + "ALTER TABLE users ADD COLUMN prefs jsonb NOT NULL DEFAULT '{}'::jsonb;",
			lt + "ALTER TABLE users ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP;",
			lt + "ALTER TABLE users ADD COLUMN token uuid;\n" +
				"ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();",
		}},
	{ruleCreateIndex,
		[]string{
			"CREATE INDEX users_email_idx ON users (email);",
			"CREATE UNIQUE INDEX users_email_key ON public.users (lower(email));",
		},
		[]string{
			noTx + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
			"CREATE TABLE t (a int);\nCREATE UNIQUE INDEX t_a_key ON t (a);",
		}},
	{ruleDropIndex,
		[]string{
			"DROP INDEX users_email_idx;",
			"DROP INDEX IF EXISTS public.users_email_idx;",
		},
		[]string{
			noTx + "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;",
			"CREATE TABLE t (a int);\nCREATE INDEX t_a_idx ON t (a);\nDROP INDEX t_a_idx;",
		}},
	{ruleConcurrentlyInTx,
		[]string{
			"CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
			"DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;",
			"REINDEX INDEX CONCURRENTLY users_email_idx;",
			lt + "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;",
		},
		[]string{
			noTx + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
			noTx + "REINDEX INDEX CONCURRENTLY users_email_idx;",
			noTx + lt + "ALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;",
		}},
	{ruleConstraintNotValid,
		[]string{
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total >= 0);",
			lt + "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
			lt + "ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);",
			lt + "ALTER TABLE users ADD COLUMN handle text UNIQUE;",
		},
		[]string{
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n" +
				"ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total >= 0) NOT VALID;",
			lt + "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;",
			"CREATE TABLE t (a int, b int);\nALTER TABLE t ADD CONSTRAINT t_a_fk FOREIGN KEY (a) REFERENCES users (id);\n" +
				"ALTER TABLE t ADD CONSTRAINT t_b_key UNIQUE (b);",
		}},
	{ruleAddPrimaryKey,
		[]string{
			lt + "ALTER TABLE events ADD PRIMARY KEY (id);",
			lt + "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);",
			lt + "ALTER TABLE events ADD COLUMN id bigint PRIMARY KEY;",
		},
		[]string{
			lt + "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_key;",
			"CREATE TABLE t (a int);\nALTER TABLE t ADD PRIMARY KEY (a);",
		}},
	{ruleDropNotNull,
		[]string{
			lt + "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
		},
		[]string{
			lt + "-- slipway:allow drop-not-null v2.1 reads email as sql.NullString\n" +
				"ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
		}},
	{ruleTruncate,
		[]string{
			"TRUNCATE sessions;",
			"TRUNCATE TABLE scratch, sessions RESTART IDENTITY;",
		},
		[]string{
			"DELETE FROM sessions WHERE expires_at < now();",
			"CREATE TABLE scratch (a int);\nTRUNCATE scratch;",
		}},
	{ruleMissingLockTimeout,
		[]string{
			"ALTER TABLE users ADD COLUMN bio text;",
			"ALTER TABLE users ADD COLUMN bio text;\n" + lt,
			"SET lock_timeout = 0;\nALTER TABLE users ADD COLUMN bio text;",
			lt + "RESET lock_timeout;\nALTER TABLE users ADD COLUMN bio text;",
			// SET LOCAL outside a transaction block does nothing.
			noTx + "SET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;",
			"ALTER TABLE users RENAME CONSTRAINT a TO b;",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN bio text;",
			"SET LOCAL lock_timeout TO '1s';\nALTER TABLE users ADD COLUMN bio text;",
			"SELECT set_config('lock_timeout', '2s', true);\nALTER TABLE users ADD COLUMN bio text;",
			noTx + lt + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;",
			// VALIDATE lets reads and writes through while it waits.
			"ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
		}},
	{ruleNonIdempotentDDL,
		[]string{
			noTx + "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
			noTx + "DROP INDEX CONCURRENTLY users_email_idx;",
			noTx + "CREATE TABLE audit (id bigint);",
			noTx + lt + "ALTER TABLE users ADD COLUMN bio text;",
			noTx + lt + "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (u) REFERENCES users (id) NOT VALID;",
			noTx + "CREATE EXTENSION pg_trgm;",
			noTx + "CREATE TYPE mood AS ENUM ('ok');",
			noTx + "ALTER TYPE mood ADD VALUE 'sad';",
		},
		[]string{
			noTx + "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n" +
				"CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
			noTx + "CREATE TABLE IF NOT EXISTS audit (id bigint);",
			noTx + lt + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;",
			noTx + "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
			noTx + "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'sad';",
			noTx + "CREATE OR REPLACE VIEW active_users AS SELECT * FROM users;",
		}},
}

// upFile wraps statements in a goose file, with a Down section that would be
// flagged if it were linted. Annotations at the start of body stay on top.
func upFile(body string) string {
	var head strings.Builder
	for strings.HasPrefix(body, "-- +goose") {
		line, rest, _ := strings.Cut(body, "\n")
		head.WriteString(line + "\n")
		body = rest
	}
	return head.String() + "-- +goose Up\n" + body + "\n\n-- +goose Down\nDROP TABLE users;\n"
}

func rulesOf(findings []Finding) []string {
	var rules []string
	for _, f := range findings {
		rules = append(rules, f.Rule)
	}
	return rules
}

func TestCorpus(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range corpus {
		covered[c.rule] = len(c.bad) > 0 && len(c.good) > 0
		for _, sql := range c.bad {
			got := lintFile("m.sql", []byte(upFile(sql)))
			if !slices.Contains(rulesOf(got), c.rule) {
				t.Errorf("%s not flagged in:\n%s\ngot %v", c.rule, sql, got)
			}
		}
		for _, sql := range c.good {
			if got := lintFile("m.sql", []byte(upFile(sql))); len(got) > 0 {
				t.Errorf("safe rewrite for %s flagged:\n%s\ngot %v", c.rule, sql, got)
			}
		}
	}
	for rule := range optOutable {
		if !covered[rule] {
			t.Errorf("rule %s has no flagged and clean cases in the corpus", rule)
		}
	}
}
