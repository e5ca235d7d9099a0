package helper

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Two URLs that reach one database (here the socket, with the password)
// give the same identity; another database of the same cluster differs by
// its name, and a URL that can't connect is one line naming the database.
func TestDBIdentityNamesTheClusterAndTheDatabaseTheURLReaches(t *testing.T) {
	db := startDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var sysid string
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text || ' started=' || (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint FROM pg_control_system()").Scan(&sysid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE otherdb OWNER app"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	args := DBIdentityArgs{DBArgs: dbArgs(db.svcUser)}
	for _, c := range []struct{ url, want string }{
		{db.appURL("appdb"), "result ok system=" + sysid + " database=appdb"},
		{fmt.Sprintf("postgres://app:%s@/appdb?host=%s&port=%d", strings.NewReplacer("$", "%24", `"`, "%22", "'", "%27", `\`, "%5C", "#", "%23", "=", "%3D", " ", "%20").Replace(hardPassword), db.c.SocketDir(), db.c.Port()),
			"result ok system=" + sysid + " database=appdb"},
		{db.appURL("otherdb"), "result ok system=" + sysid + " database=otherdb"},
	} {
		e := appRoot(t, envLine(c.url))
		out, code := runStep(t, *e, "db-identity", args)
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("exit %d: %q, want %q", code, out, c.want)
		}
	}

	e := appRoot(t, envLine(fmt.Sprintf("host=%s port=%d user=app password=wrong dbname=appdb", db.c.SocketDir(), db.c.Port())))
	out, code := runStep(t, *e, "db-identity", args)
	if code != 1 || !strings.HasPrefix(out, "result failed cannot connect to database appdb as app: ") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("wrong password: exit %d, %q", code, out)
	}
}
