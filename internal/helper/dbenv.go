package helper

// The app's database as the server's steps reach it: the URL read from the
// env file the app itself reads (envfile.Parse, systemd's reading), turned
// into libpq's PG* variables by pgenv (pgx's parser, URL or key=value form),
// and the PostgreSQL clients run with them in their environment, never in
// argv, as the service user (its peer or password authentication is the
// app's own) or as the local postgres superuser.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/pgenv"
)

var urlVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,100}$`)

// DatabaseEnv is libpq's environment (PG* NAME=value strings, sorted) for
// the database URL variable urlVar of the env file envFile (a path as on
// the server, read under e.Root), read the way systemd gives it to the app.
// Every problem is one line naming the file or variable and the fix; none
// holds the password.
func DatabaseEnv(e *Env, envFile, urlVar string) ([]string, error) {
	if !urlVarRE.MatchString(urlVar) {
		return nil, fmt.Errorf("database URL variable %q: want letters, digits and _ (DATABASE_URL)", urlVar)
	}
	data, err := os.ReadFile(e.Path(envFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no env file %s: run provision, then write %s into it", envFile, urlVar)
	}
	if err != nil {
		return nil, fmt.Errorf("read the env file %s: %w", envFile, err)
	}
	f, err := envfile.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("systemd can't load %s, so neither can the app: %w", envFile, err)
	}
	url, ok := f.Lookup(urlVar)
	if !ok || strings.TrimSpace(url) == "" {
		return nil, fmt.Errorf("%s sets no %s: set it to the app's database URL (env:set)", envFile, urlVar)
	}
	return pgenv.Vars(urlVar, url)
}

// dbVar is the value of NAME in vars (NAME=value strings), "" if unset.
func dbVar(vars []string, name string) string {
	for _, kv := range vars {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// withVar is vars with NAME set to value ("" removes it).
func withVar(vars []string, name, value string) []string {
	out := make([]string, 0, len(vars)+1)
	for _, kv := range vars {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	if value != "" {
		out = append(out, name+"="+value)
	}
	return out
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,50}$`)

// appDatabase is the database DatabaseEnv's vars name, refused unless of
// letters, digits and _ (the backups' names derive from it: <db>_restore).
func appDatabase(vars []string, urlVar, envFile string) (string, error) {
	db := dbVar(vars, "PGDATABASE")
	if db == "" {
		return "", fmt.Errorf("%s in %s names no database: add it (postgres://user:password@host/DBNAME or dbname=DBNAME)", urlVar, envFile)
	}
	if !dbNameRE.MatchString(db) {
		return "", fmt.Errorf("database name %s: backups handle names of letters, digits and _ only", db)
	}
	return db, nil
}

// superuserVars are libpq's variables for the local postgres superuser
// (peer authentication over the local socket): the app's password and
// sslmode dropped, and the app's host kept only when it is a socket
// folder (a TCP address, loopback included, would ask postgres for a
// password it has not got).
func superuserVars(app []string) []string {
	vars := []string{"PGUSER=postgres", "PGDATABASE=postgres"}
	host, _, _ := strings.Cut(dbVar(app, "PGHOST"), ",")
	if strings.HasPrefix(host, "/") {
		vars = append(vars, "PGHOST="+host)
	}
	if port, _, _ := strings.Cut(dbVar(app, "PGPORT"), ","); port != "" {
		vars = append(vars, "PGPORT="+port)
	}
	return vars
}

// pgSuperuser is the OS user the local PostgreSQL superuser role is
// reached as.
const pgSuperuser = "postgres"

// clientPath is the PATH the clients run with.
const clientPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// asUser is the command name args run as OS user name (its uid, gid and
// groups, set by the kernel at exec: no runuser, no shell), in "/", with
// an environment of only PATH, HOME, USER, LOGNAME and vars. As that same
// user already, no credential is set.
func asUser(ctx context.Context, name string, vars []string, prog string, args ...string) (*exec.Cmd, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w: run provision, which creates it", name, err)
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=" + clientPath, "HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username}, vars...)
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s: uid %s, gid %s are not numbers", name, u.Uid, u.Gid)
	}
	if int(uid) == os.Getuid() {
		return cmd, nil
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd, nil
}

// runAs runs prog as OS user name with vars, stdin and stdout, and
// returns its stdout when stdout is nil. An error ends with the last
// lines prog printed on stderr.
func runAs(ctx context.Context, name string, vars []string, stdin io.Reader, stdout io.Writer, prog string, args ...string) ([]byte, error) {
	cmd, err := asUser(ctx, name, vars, prog, args...)
	if err != nil {
		return nil, err
	}
	var out, stderr bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &out
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := tail(stderr.Bytes()); msg != "" {
			return out.Bytes(), errors.New(msg)
		}
		return out.Bytes(), fmt.Errorf("%s: %w", prog, err)
	}
	return out.Bytes(), nil
}

// tail is the last 3 lines of b on one line, at most 400 bytes: what a
// failing client says last.
func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, " ")
	if len(s) > 400 {
		s = s[:400]
	}
	return strings.ToValidUTF8(s, "")
}

// psqlAs runs one SQL command with psql as OS user name and vars, and
// returns its unaligned output, trimmed.
func psqlAs(ctx context.Context, name string, vars []string, sql string) (string, error) {
	out, err := runAs(ctx, name, vars, nil, nil, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	return strings.TrimSpace(string(out)), err
}

// schemaOf is the goose version database db holds, read as the service
// user; 0 without goose's table.
func schemaOf(ctx context.Context, svcUser string, vars []string, db string) int64 {
	out, err := psqlAs(ctx, svcUser, withVar(vars, "PGDATABASE", db), "SELECT COALESCE(max(version_id), 0) FROM goose_db_version")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(out, 10, 64)
	return v
}

// quoteIdent is name as an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
