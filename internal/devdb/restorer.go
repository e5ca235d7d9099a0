package devdb

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/slipway-dev/slipway/internal/dev"
)

// RestoreRole is the role pullDB restores as when DATABASE_URL's role is
// a superuser: a plain role (no superuser, CREATEROLE, CREATEDB, nor
// membership in another role) that owns the pulled database. It is the
// role the .dev cluster's database belongs to, which pullDB, the app
// under `dev` and the other tools connect as there (see dev.Role).
//
// A production dump is the production app role's writing: a function
// used in a CHECK constraint, an index expression or a generated column
// runs at restore with the restoring role's rights, and a superuser's
// include COPY ... TO PROGRAM, a shell on this machine. pg_restore
// --role= is no defence: the function can RESET ROLE. Connected as a
// plain role, there is no superuser session to go back to.
const RestoreRole = dev.Role

// restorer returns the connection settings pg_restore runs with: cfg's
// own when its role holds none of the rights a planted function could
// abuse, else RestoreRole's, created or reset with a new password.
func restorer(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.ConnConfig, error) {
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to the local server's postgres database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var super, risky bool
	err = conn.QueryRow(ctx, `SELECT rolsuper, rolcreaterole
		OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')
		OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')
		OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')
		FROM pg_roles WHERE rolname = current_user`).Scan(&super, &risky)
	if err != nil {
		return nil, fmt.Errorf("read the rights of DATABASE_URL's role: %w", err)
	}
	switch {
	case !super && !risky:
		return cfg, nil
	case !super:
		return nil, fmt.Errorf("refusing: DATABASE_URL's role %s may create roles, run programs or touch files on this machine, and a restore runs the dump's functions with its rights: point DATABASE_URL at a plain role, or at a superuser (pullDB then restores as the plain role %s)", cfg.User, RestoreRole)
	}
	password := rand.Text()
	salt := make([]byte, 16)
	rand.Read(salt)
	verifier, err := scramVerifier(password, salt)
	if err != nil {
		return nil, err
	}
	attrs := "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD '" + verifier + "'"
	ident := pgx.Identifier{RestoreRole}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" "+attrs); err != nil {
		// It exists: reset whatever was changed since, and the password.
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "42710" && pe.Code != "23505") {
			return nil, fmt.Errorf("create role %s: %w", RestoreRole, err)
		}
		if _, err := conn.Exec(ctx, "ALTER ROLE "+ident+" "+attrs); err != nil {
			return nil, fmt.Errorf("reset role %s: %w", RestoreRole, err)
		}
	}
	var granted []string
	rows, err := conn.Query(ctx, `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
		WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`, RestoreRole)
	if err == nil {
		granted, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("read the roles granted to %s: %w", RestoreRole, err)
	}
	if len(granted) > 0 {
		return nil, fmt.Errorf("refusing: role %s, which pullDB restores as, was granted %s: REVOKE %s FROM %s, then pull again",
			RestoreRole, strings.Join(granted, ", "), strings.Join(granted, ", "), RestoreRole)
	}
	r := cfg.Copy()
	r.User, r.Password = RestoreRole, password
	return r, nil
}

// scramVerifier is what PostgreSQL stores for password (RFC 5802,
// SCRAM-SHA-256): sent instead of the password, so no statement log of
// the server can show it.
func scramVerifier(password string, salt []byte) (string, error) {
	const iterations = 4096
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac("Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac("Server Key"))), nil
}

// superuserOnly names the first entry of a pg_restore --list that only a
// superuser may restore: an event trigger, a foreign-data wrapper, or an
// extension this server doesn't mark trusted (or lacks). conn is on the
// local server.
func superuserOnly(ctx context.Context, conn *pgx.Conn, list []byte) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(string(list)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, ";") {
			continue
		}
		// "12; 3079 16385 EXTENSION - pg_stat_statements "
		_, entry, ok := strings.Cut(line, "; ")
		if !ok {
			continue
		}
		f := strings.Fields(entry)
		if len(f) < 3 {
			continue
		}
		rest := strings.Join(f[2:], " ")
		switch {
		case strings.HasPrefix(rest, "EVENT TRIGGER "), strings.HasPrefix(rest, "FOREIGN DATA WRAPPER "):
			return listedName(rest), nil
		case strings.HasPrefix(rest, "EXTENSION "):
			g := strings.Fields(rest)
			if len(g) < 3 {
				continue
			}
			var ok *bool
			if err := conn.QueryRow(ctx, "SELECT bool_or(NOT superuser OR trusted) FROM pg_available_extension_versions WHERE name = $1", g[2]).Scan(&ok); err != nil {
				return "", fmt.Errorf("read the local server's extensions: %w", err)
			}
			if ok == nil {
				return "", fmt.Errorf("the backup needs EXTENSION %s, which this machine's PostgreSQL lacks: install it (Debian: apt-get install postgresql-contrib, or the extension's package), nothing changed", g[2])
			}
			if !*ok {
				return "EXTENSION " + g[2], nil
			}
		}
	}
	return "", sc.Err()
}

// listedName is a list entry without its schema column and owner:
// "EVENT TRIGGER - planted_et postgres" → "EVENT TRIGGER planted_et".
func listedName(rest string) string {
	for _, kind := range []string{"EVENT TRIGGER", "FOREIGN DATA WRAPPER"} {
		if tail, ok := strings.CutPrefix(rest, kind+" "); ok {
			g := strings.Fields(tail)
			if len(g) >= 2 {
				return kind + " " + g[1]
			}
		}
	}
	return rest
}

// restoreError is pg_restore's failure in one line: the server's message
// without the DETAIL, CONTEXT and most of the "Command was" lines that
// follow it, which quote the dump's rows and SQL.
func restoreError(db string, out []byte) error {
	var msg, command string
	lines := strings.Split(string(out), "\n")
	for i, line := range lines {
		if e, ok := strings.CutPrefix(line, "pg_restore: error: "); ok && msg == "" {
			msg = clip(strings.Join(strings.Fields(e), " "), 300)
		}
		if e, ok := strings.CutPrefix(line, "Command was: "); ok && command == "" && i > 0 {
			// Its first line names the object: "CREATE FUNCTION public.f(integer) RETURNS integer".
			command = clip(strings.TrimSpace(e), 120)
		}
	}
	if msg == "" {
		msg = "no error message"
	}
	if strings.Contains(msg, "permission denied") || strings.Contains(msg, "must be superuser") || strings.Contains(msg, "must be owner") {
		what := "backup"
		if command != "" {
			what += "'s `" + command + "`"
		}
		return fmt.Errorf("refusing: the %s needs a superuser to restore (%s), and pullDB never restores as one (a superuser would run the dump's functions with its rights): drop it on the server, or restore by hand if you trust the dump; database %s is unchanged", what, msg, db)
	}
	return fmt.Errorf("pg_restore of the backup failed: %s; database %s is unchanged", msg, db)
}

// clip cuts s to n bytes at most, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
