package lint

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// lt is the preamble every ALTER on an existing table needs.
const lt = "SET lock_timeout = '2s';\n"

// noTx marks a file goose runs statement by statement.
const noTx = "-- +goose NO TRANSACTION\n"

// events is a partitioned table with one partition.
const events = "CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);\n" +
	"CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');"

// next separates the migrations of a corpus case that needs what earlier
// files declared (a column's type, a partitioned table).
const next = "\n--- next migration ---\n"

// lintCase lints a corpus case: one file, or a folder of files split at next.
func lintCase(t *testing.T, sql string) []Finding {
	t.Helper()
	if !strings.Contains(sql, next) {
		return lintFile("m.sql", []byte(upFile(sql)))
	}
	fsys := fstest.MapFS{}
	for i, part := range strings.Split(sql, next) {
		fsys[fmt.Sprintf("%05d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(upFile(part))}
	}
	got, err := lintFS(context.Background(), fsys, func(name string) string { return name }, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

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
			lt + "-- slipway:allow drop-table v1.4 stopped reading legacy_sessions\nDROP TABLE legacy_sessions;",
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
			// Widenings need the old type: without it, the linter can't tell.
			lt + "ALTER TABLE users ALTER COLUMN name TYPE text;",
			"CREATE TABLE users (age int);" + next + lt + "ALTER TABLE users ALTER COLUMN age TYPE bigint;",
			"CREATE TABLE users (name varchar(50));" + next + lt + "ALTER TABLE users ALTER COLUMN name TYPE varchar(20);",
			"CREATE TABLE users (name varchar(50));" + next + lt +
				"ALTER TABLE users ALTER COLUMN name TYPE varchar(100) USING name::varchar(100);",
			"CREATE TABLE users (tags varchar(50)[]);" + next + lt + "ALTER TABLE users ALTER COLUMN tags TYPE varchar(100)[];",
			"CREATE TABLE p (price numeric(10,2));" + next + lt + "ALTER TABLE p ALTER COLUMN price TYPE numeric(12,3);",
			"CREATE TABLE p (price numeric);" + next + lt + "ALTER TABLE p ALTER COLUMN price TYPE numeric(12,2);",
			"CREATE TABLE f (flags bit varying(16));" + next + lt + "ALTER TABLE f ALTER COLUMN flags TYPE varbit(8);",
			"CREATE TABLE users (id int);" + next + lt + "ALTER TABLE users ADD COLUMN name varchar(50);" +
				next + lt + "ALTER TABLE users RENAME COLUMN name TO full_name;\n-- slipway:allow rename-column test\n" +
				next + lt + "ALTER TABLE users ALTER COLUMN full_name TYPE varchar(10);",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN age_v2 bigint;",
			"CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;",
			"CREATE TABLE users (name varchar(50));" + next + lt + "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);",
			"CREATE TABLE users (name character varying(50));" + next + lt + "ALTER TABLE users ALTER COLUMN name TYPE text;",
			"CREATE TABLE users (name varchar(50));" + next + lt + "ALTER TABLE public.users ALTER COLUMN name TYPE varchar;",
			"CREATE TABLE users (name text);" + next + lt + "ALTER TABLE users ALTER COLUMN name TYPE varchar;",
			"CREATE TABLE p (price numeric(10,2));" + next + lt + "ALTER TABLE p ALTER COLUMN price TYPE numeric(12,2);",
			"CREATE TABLE p (price decimal(10));" + next + lt + "ALTER TABLE p ALTER COLUMN price TYPE numeric(12,0);",
			"CREATE TABLE p (price numeric(10,2));" + next + lt + "ALTER TABLE p ALTER COLUMN price TYPE numeric;",
			"CREATE TABLE f (flags bit varying(8));" + next + lt + "ALTER TABLE f ALTER COLUMN flags TYPE varbit(16);",
			"CREATE TABLE f (flags varbit(8));" + next + lt + "ALTER TABLE f ALTER COLUMN flags TYPE bit varying;",
			"CREATE TABLE users (id int);" + next + lt + "ALTER TABLE users ADD COLUMN name varchar(50);" +
				next + lt + "ALTER TABLE users ALTER COLUMN name TYPE varchar(60);" +
				next + lt + "ALTER TABLE users ALTER COLUMN name TYPE varchar(70);",
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
			lt + "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;" + next + lt +
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
			lt + "ALTER TABLE users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();",
			lt + "ALTER TABLE users ADD COLUMN prefs jsonb NOT NULL DEFAULT '{}'::jsonb;",
			lt + "ALTER TABLE users ADD COLUMN at timestamptz DEFAULT CURRENT_TIMESTAMP;",
			lt + "ALTER TABLE users ADD COLUMN token uuid;\n" +
				"ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();",
			"CREATE TABLE t (email text);\nALTER TABLE t ADD COLUMN e text GENERATED ALWAYS AS (lower(email)) STORED;",
		}},
	{ruleCreateIndex,
		[]string{
			"CREATE INDEX users_email_idx ON users (email);",
			"CREATE UNIQUE INDEX users_email_key ON public.users (lower(email));",
			events + next + lt + "CREATE INDEX events_at_idx ON events (at);",
			lt + "-- +goose StatementBegin\nDO $do$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'i') THEN\n" +
				"    CREATE INDEX i ON users (email);\n  END IF;\nEND\n$do$;\n-- +goose StatementEnd",
			// PostgreSQL refuses this one.
			events + next + noTx + "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_at_idx ON events (at);",
			// Not known to be partitioned: ON ONLY may be a full build.
			lt + "CREATE INDEX events_at_idx ON ONLY events (at);",
		},
		[]string{
			noTx + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);",
			"CREATE TABLE t (a int);\nCREATE UNIQUE INDEX t_a_key ON t (a);",
			// The partitioned-table pattern: ON ONLY the parent, CONCURRENTLY
			// per partition, ATTACH.
			events + next + lt + "CREATE INDEX events_at_idx ON ONLY events (at);" +
				next + noTx + "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_2026_at_idx ON events_2026 (at);" +
				next + lt + "ALTER INDEX events_at_idx ATTACH PARTITION events_2026_at_idx;",
			"CREATE TABLE ev (at date) PARTITION BY RANGE (at);\nCREATE INDEX ev_at_idx ON ev (at);",
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
			// VALIDATE in the transaction that added it: the ADD's lock is held through the scan.
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n" +
				"ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total >= 0) NOT VALID, " +
				"VALIDATE CONSTRAINT orders_total_pos;",
		},
		[]string{
			lt + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;" +
				next + lt + "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
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
			"CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
			"DROP TRIGGER users_touch ON public.users;",
			"-- slipway:allow drop-index the table has 10 rows\nDROP INDEX users_email_idx;",
			"-- slipway:allow drop-table v1.4 stopped reading it\nDROP TABLE legacy;",
			"-- slipway:allow truncate rows are re-derived nightly\nTRUNCATE cache;",
			"LOCK TABLE users IN ROW EXCLUSIVE MODE;",
			"CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
			"CREATE POLICY own_rows ON notes USING (owner = current_user);",
			// A DO block's statements are checked like the file's.
			"-- +goose StatementBegin\nDO $$ BEGIN ALTER TABLE users ADD COLUMN bio text; END $$;\n-- +goose StatementEnd",
			"DO $$ BEGIN CREATE TABLE e_2027 PARTITION OF events FOR VALUES IN (2027); END $$;",
			"ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
		},
		[]string{
			lt + "ALTER TABLE users ADD COLUMN bio text;",
			"SET LOCAL lock_timeout TO '1s';\nALTER TABLE users ADD COLUMN bio text;",
			"SELECT set_config('lock_timeout', '2s', true);\nALTER TABLE users ADD COLUMN bio text;",
			noTx + lt + "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;",
			// VALIDATE lets reads and writes through while it waits.
			"ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;",
			lt + "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
			"LOCK TABLE users IN ROW EXCLUSIVE MODE NOWAIT;",
			"CREATE TABLE events (at date) PARTITION BY RANGE (at);\n" +
				"CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
			lt + "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');",
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
	{ruleReindex,
		[]string{
			lt + "REINDEX INDEX users_email_idx;",
			lt + "REINDEX TABLE users;",
			"REINDEX SCHEMA public;",
		},
		[]string{
			noTx + "REINDEX INDEX CONCURRENTLY users_email_idx;",
			noTx + "REINDEX TABLE CONCURRENTLY users;",
			noTx + "REINDEX (CONCURRENTLY) SCHEMA public;",
			"CREATE TABLE t (a int);\nCREATE INDEX t_a_idx ON t (a);\nREINDEX INDEX t_a_idx;\nREINDEX TABLE t;",
		}},
	{ruleExclusionConstraint,
		[]string{
			lt + "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
		},
		[]string{
			"CREATE TABLE bookings (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));",
			"CREATE TABLE b (room int, during tstzrange);\n" +
				"ALTER TABLE b ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
		}},
	{ruleTransactionControl,
		[]string{
			"BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;",
			"CREATE TABLE t (a int);\nCOMMIT;",
			"START TRANSACTION;\nCREATE TABLE t (a int);\nEND;",
			"CREATE TABLE t (a int);\nROLLBACK;",
			"DO $$ BEGIN INSERT INTO t VALUES (1); COMMIT; END $$;",
		},
		[]string{
			noTx + "BEGIN;\nCREATE TABLE IF NOT EXISTS t (a int);\nCOMMIT;",
			"CREATE TABLE t (a int);\nSAVEPOINT s;\nINSERT INTO t VALUES (1);\nRELEASE SAVEPOINT s;",
			"-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS void AS $$ BEGIN PERFORM 1; END $$ LANGUAGE plpgsql;\n-- +goose StatementEnd",
		}},
	{ruleTableRewrite,
		[]string{
			lt + "ALTER TABLE events SET UNLOGGED;",
			lt + "ALTER TABLE events SET LOGGED;",
			lt + "ALTER TABLE events SET TABLESPACE fast;",
			"ALTER INDEX events_at_idx SET TABLESPACE fast;",
			"ALTER TABLE ALL IN TABLESPACE slow SET TABLESPACE fast;",
			lt + "CLUSTER events USING events_at_idx;",
			noTx + "VACUUM FULL events;",
			noTx + "VACUUM (FULL, ANALYZE) events;",
		},
		[]string{
			noTx + "VACUUM (ANALYZE) events;",
			"CREATE UNLOGGED TABLE t (a int);\nALTER TABLE t SET LOGGED;",
			"CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nCLUSTER t USING t_a;",
		}},
	{ruleRefreshMatView,
		[]string{
			lt + "REFRESH MATERIALIZED VIEW daily_totals;",
		},
		[]string{
			"REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;",
			"CREATE MATERIALIZED VIEW m AS SELECT 1 AS a WITH NO DATA;\nREFRESH MATERIALIZED VIEW m;",
		}},
	{ruleLockTable,
		[]string{
			lt + "LOCK TABLE users;",
			lt + "LOCK TABLE users IN SHARE MODE;",
			"LOCK TABLE users IN ACCESS EXCLUSIVE MODE NOWAIT;",
		},
		[]string{
			lt + "LOCK TABLE users IN SHARE UPDATE EXCLUSIVE MODE;",
			"CREATE TABLE t (a int);\nLOCK TABLE t;",
			"LOCK TABLE users IN ROW EXCLUSIVE MODE NOWAIT;",
		}},
	{ruleRenameEnumValue,
		[]string{
			"ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';",
		},
		[]string{
			"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'blue';",
		}},
	{ruleDisableTriggerAll,
		[]string{
			lt + "ALTER TABLE orders DISABLE TRIGGER ALL;",
		},
		[]string{
			lt + "ALTER TABLE orders DISABLE TRIGGER orders_touch;",
			"CREATE TABLE t (a int);\nALTER TABLE t DISABLE TRIGGER ALL;",
		}},
	{ruleDropView,
		[]string{
			lt + "DROP VIEW active_users;",
			lt + "DROP MATERIALIZED VIEW IF EXISTS daily_totals;",
			// Missing between the two statements of a NO TRANSACTION file.
			noTx + lt + "DROP VIEW IF EXISTS active_users;\nCREATE OR REPLACE VIEW active_users AS SELECT 1 AS a;",
			// Created before the drop, not after.
			lt + "CREATE VIEW v2 AS SELECT 1 AS a;\nDROP VIEW v2, active_users;",
			// Only one of the two comes back.
			lt + "DROP VIEW a, b;\nCREATE VIEW a AS SELECT 1 AS x;",
		},
		[]string{
			lt + "-- slipway:allow drop-view v1.6 stopped reading active_users\nDROP VIEW active_users;",
			"CREATE VIEW v AS SELECT 1 AS a;\nDROP VIEW v;",
			"CREATE MATERIALIZED VIEW m AS SELECT 1 AS a;\nDROP MATERIALIZED VIEW m;",
			// Replaced in goose's transaction: never missing for the running binary.
			lt + "DROP VIEW active_users;\nCREATE VIEW active_users AS SELECT id, email FROM users;",
			lt + "DROP MATERIALIZED VIEW totals, active_users;\nCREATE VIEW active_users AS SELECT 1 AS a;\n" +
				"CREATE MATERIALIZED VIEW totals AS SELECT 1 AS a;",
		}},
	{ruleDropSchemaCascade,
		[]string{
			"DROP SCHEMA reporting CASCADE;",
		},
		[]string{
			"DROP SCHEMA reporting;",
			"DROP SCHEMA IF EXISTS reporting RESTRICT;",
		}},
	{ruleDropFunction,
		[]string{
			"DROP FUNCTION touch_updated_at();",
			"DROP FUNCTION IF EXISTS app.score(int), app.rank;",
			"DROP PROCEDURE archive_orders;",
		},
		[]string{
			"-- slipway:allow drop-function v2.0 stopped calling it\nDROP FUNCTION touch_updated_at();",
			"CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql;\nDROP FUNCTION f();",
		}},
	{ruleWholeTableWrite,
		[]string{
			"UPDATE users SET plan = 'free';",
			"DELETE FROM sessions;",
			"WITH x AS (SELECT 1) UPDATE users SET plan = 'free' FROM x;",
		},
		[]string{
			"UPDATE users SET plan = 'free' WHERE plan IS NULL AND id < 1000;",
			"DELETE FROM sessions WHERE expires_at < now();",
			"CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\nUPDATE t SET a = 2;\nDELETE FROM t;",
		}},
	{ruleDoBlock,
		[]string{
			"-- +goose StatementBegin\nDO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$;\n-- +goose StatementEnd",
			"DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT 1' LOOP END LOOP; END $$;",
			"DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE users'); $$;",
			"DO $$ BEGIN ALTER TABLE users ADD COLUMN; END $$;",
		},
		[]string{
			"-- +goose StatementBegin\nDO $$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM plans WHERE name = 'free') THEN\n" +
				"    INSERT INTO plans (name) VALUES ('free');\n  END IF;\nEND $$;\n-- +goose StatementEnd",
			"DO $$ BEGIN CREATE TYPE mood AS ENUM ('ok'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
			"DO $$ BEGIN SET LOCAL lock_timeout = '2s'; ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text; END $$;",
			"-- slipway:allow do-block-not-checked builds GRANTs for the tables listed in app.grants\n" +
				"DO $$ DECLARE t text; BEGIN FOR t IN SELECT name FROM app.grants LOOP " +
				"EXECUTE format('GRANT SELECT ON %I TO reader', t); END LOOP; END $$;",
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
			got := lintCase(t, sql)
			if !slices.Contains(rulesOf(got), c.rule) {
				t.Errorf("%s not flagged in:\n%s\ngot %v", c.rule, sql, got)
			}
		}
		for _, sql := range c.good {
			if got := lintCase(t, sql); len(got) > 0 {
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

// A finding's message is true of the statement: what the linter knows about
// the column or table is what it says.
func TestMessagesSayWhatTheLinterKnows(t *testing.T) {
	tests := []struct {
		name, sql, rule, says string
	}{
		{"known narrowing", "CREATE TABLE users (name varchar(50));" + next + lt +
			"ALTER TABLE users ALTER COLUMN name TYPE varchar(20);",
			ruleChangeColumnType, "changing varchar(50) to varchar(20) rewrites the table"},
		{"renamed column keeps its type", "CREATE TABLE users (name varchar(50));" + next + lt +
			"ALTER TABLE users RENAME COLUMN name TO full_name;" + next + lt +
			"ALTER TABLE users ALTER COLUMN full_name TYPE int USING 0;",
			ruleChangeColumnType, "changing varchar(50) to int4 rewrites"},
		{"serial is its int", "CREATE TABLE robot (id serial PRIMARY KEY);" + next + lt +
			"ALTER TABLE robot ALTER COLUMN id TYPE bigint;",
			ruleChangeColumnType, "changing int4 to int8 rewrites"},
		{"unknown column", lt + "ALTER TABLE users ALTER COLUMN name TYPE text;",
			ruleChangeColumnType, "can't tell: users.name is not declared in this migrations folder"},
		{"dropped and re-added column", "CREATE TABLE users (name varchar(50));" + next + lt +
			"ALTER TABLE users DROP COLUMN name, ADD COLUMN name text;" + next + lt +
			"ALTER TABLE users ALTER COLUMN name TYPE varchar(10);",
			ruleChangeColumnType, "changing text to varchar(10)"},
		{"partitioned parent", events + next + lt + "CREATE INDEX events_at_idx ON events (at);",
			ruleCreateIndex, "events is partitioned: a plain CREATE INDEX blocks writes to every partition"},
		{"maybe partitioned", lt + "CREATE INDEX events_at_idx ON ONLY events (at);",
			ruleCreateIndex, "events is not created with PARTITION BY in this migrations folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range lintCase(t, tt.sql) {
				if f.Rule == tt.rule && strings.Contains(f.Message, tt.says) {
					return
				}
			}
			t.Errorf("no %s finding saying %q in %v", tt.rule, tt.says, lintCase(t, tt.sql))
		})
	}
}
