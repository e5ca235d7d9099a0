// Package pgenv turns a database URL into the PG* environment variables of
// libpq's tools (pg_dump, pg_restore, psql), parsed by the app's own parser
// (pgx's pgconn.ParseConfig): anything the app accepts, in URL or
// key=value form, the tools get the same way, and the password never goes
// in argv.
package pgenv

import (
	"fmt"
	"maps"
	"net"
	neturl "net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Vars are libpq's environment variables for url, as NAME=value strings
// sorted by name. name is the variable the URL came from (for messages).
func Vars(name, url string) ([]string, error) {
	if strings.TrimSpace(url) == "" {
		return nil, fmt.Errorf("%s is empty: set it to the app's database URL", name)
	}
	// pgxpool's parser, as the app's (internal/postgres): it takes its own
	// settings and pgx's (pool_max_conns, statement_cache_capacity...) out,
	// which libpq would otherwise send the server as unknown options.
	pool, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's message may quote the URL, password included.
		return nil, fmt.Errorf("%s is not a database URL pgx accepts: fix it (postgres://user:password@host/db or host=... dbname=...)", name)
	}
	cfg := &pool.ConnConfig.Config
	env := map[string]string{}
	hosts, ports := []string{cfg.Host}, []string{strconv.Itoa(int(cfg.Port))}
	seen := map[string]bool{net.JoinHostPort(cfg.Host, ports[0]): true}
	for _, f := range cfg.Fallbacks {
		hp := net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port)))
		if !seen[hp] {
			seen[hp] = true
			hosts, ports = append(hosts, f.Host), append(ports, strconv.Itoa(int(f.Port)))
		}
	}
	env["PGHOST"] = strings.Join(hosts, ",")
	env["PGPORT"] = strings.Join(ports, ",")
	if cfg.User != "" {
		env["PGUSER"] = cfg.User
	}
	if cfg.Password != "" {
		env["PGPASSWORD"] = cfg.Password
	}
	if cfg.Database != "" {
		env["PGDATABASE"] = cfg.Database
	}
	if cfg.ConnectTimeout > 0 {
		env["PGCONNECT_TIMEOUT"] = strconv.Itoa(int((cfg.ConnectTimeout.Seconds()) + 0.5))
	}
	files := tlsFiles(url)
	mode, err := sslmode(cfg, len(files) > 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	env["PGSSLMODE"] = mode
	maps.Copy(env, files)
	var opts []string
	for k, v := range cfg.RuntimeParams {
		switch k {
		case "application_name":
			env["PGAPPNAME"] = v
		default:
			// libpq sends these as startup options, as pgx does.
			opts = append(opts, "-c "+k+"="+escapeOption(v))
		}
	}
	sort.Strings(opts)
	if len(opts) > 0 {
		env["PGOPTIONS"] = strings.Join(opts, " ")
	}
	for k, v := range env {
		if strings.ContainsAny(v, "\x00\n") {
			return nil, fmt.Errorf("%s: its %s holds a line break or NUL, which no environment variable can carry: fix the URL", name, k)
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// tlsFiles are libpq's variables for the URL form's sslrootcert, sslcert
// and sslkey: pgx reads those files into memory and keeps no path, so they
// are taken from the URL itself (the app hosts of several reach their
// database with sslmode=verify-full and the CA in sslrootcert). The
// key=value form's are not read: nil.
func tlsFiles(raw string) map[string]string {
	u, err := neturl.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil
	}
	files := map[string]string{}
	for param, v := range map[string]string{"sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY"} {
		if p := u.Query().Get(param); p != "" {
			files[v] = p
		}
	}
	if len(files) == 0 {
		return nil
	}
	return files
}

// sslmode is libpq's sslmode for what pgx made of the URL's: pgx turns
// sslmode into a TLS config and fallbacks (prefer: TLS, then plain; allow:
// plain, then TLS). files says the URL's TLS files are passed on by path.
func sslmode(cfg *pgconn.Config, files bool) (string, error) {
	plainFallback, tlsFallback := false, false
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig == nil {
			plainFallback = true
		} else {
			tlsFallback = true
		}
	}
	t := cfg.TLSConfig
	switch {
	case t == nil && tlsFallback:
		return "allow", nil
	case t == nil:
		return "disable", nil
	case (len(t.Certificates) > 0 || t.RootCAs != nil) && !files:
		// pgx loaded sslrootcert, sslcert or sslkey into memory: their paths
		// are gone, and libpq's defaults would differ.
		return "", fmt.Errorf("sslrootcert, sslcert and sslkey of the key=value form are not passed on to pg_dump and psql: write the URL form (postgres://...?sslmode=verify-full&sslrootcert=/path), or use sslmode=require")
	case plainFallback:
		return "prefer", nil
	case !t.InsecureSkipVerify:
		return "verify-full", nil
	case t.VerifyPeerCertificate != nil || t.VerifyConnection != nil:
		return "verify-ca", nil
	default:
		return "require", nil
	}
}

// escapeOption escapes a value for PGOPTIONS: backslash before spaces and
// backslashes.
func escapeOption(v string) string {
	return strings.NewReplacer(`\`, `\\`, " ", `\ `).Replace(v)
}
