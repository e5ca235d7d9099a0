package devdb

import (
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/slipway-dev/slipway/internal/postgres"
)

// Guard refuses to let a development tool drop or write a database that may
// not be a development one: when APP_ENV is production, or when the server
// isn't on this machine (anything but a unix socket, localhost, 127.0.0.0/8
// or ::1). force (-force) overrides both. The message names the problem and
// the way out.
func Guard(dbURL string, getenv func(string) string, force bool) error {
	if force {
		return nil
	}
	if env := strings.TrimSpace(getenv("APP_ENV")); strings.EqualFold(env, "production") {
		return fmt.Errorf("refusing: APP_ENV=%s, this tool is for development databases: unset APP_ENV, or pass -force if you really mean it", env)
	}
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		return postgres.BadURL("DATABASE_URL")
	}
	hosts := []string{cfg.Host}
	for _, fb := range cfg.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if !IsLocalHost(h) {
			return fmt.Errorf("refusing: database %s is on host %s, not this machine (only a unix socket, localhost, 127.0.0.0/8 and ::1 count): point DATABASE_URL at a local database, or pass -force if you really mean it", cfg.Database, h)
		}
	}
	return nil
}

// IsLocalHost reports whether a libpq host is this machine: a unix socket
// folder, localhost, or a loopback address (127.0.0.0/8, ::1).
func IsLocalHost(host string) bool {
	if strings.HasPrefix(host, "/") {
		return true
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i] // zone of a link-local address
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
