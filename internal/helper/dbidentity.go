package helper

import (
	"context"
	"regexp"
	"strings"
)

func init() {
	Register("db-identity", true, dbIdentity)
}

// DBIdentityArgs are db-identity's arguments: where the app's database
// is (DBArgs; Detached unused: the question is short).
type DBIdentityArgs struct {
	DBArgs
}

var systemIDRE = regexp.MustCompile(`^[0-9]{1,20}$`)

// dbIdentity says which database the app's URL reaches, as the service
// user with the app's own URL (its TLS settings and password included):
// "result ok system=<id> started=<µs> database=<name>": the cluster's
// system identifier (pg_control_system(), which any role may read, the
// same whichever address reaches the cluster: a socket on one host, TCP
// from another), when its postmaster started, in microseconds since 1970
// (copies of one cluster, servers made from one image or a replica, share
// the identifier but not that), and the database connected to. Several hosts of one app compare these
// before a deploy (deploy's sameDatabase).
func dbIdentity(ctx context.Context, e *Env, a DBIdentityArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	vars, db, err := a.vars(e)
	if err != nil {
		return failed(e, "%v", err)
	}
	out, err := psqlAs(ctx, a.User, vars, "SELECT concat_ws(' ', system_identifier, (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint, current_database()) FROM pg_control_system()")
	if err != nil {
		user := dbVar(vars, "PGUSER")
		if user == "" {
			user = a.User
		}
		return failed(e, "cannot connect to database %s as %s: %v", db, user, err)
	}
	f := strings.Fields(out)
	if len(f) != 3 || !systemIDRE.MatchString(f[0]) || !systemIDRE.MatchString(f[1]) || !dbNameRE.MatchString(f[2]) {
		return failed(e, "unexpected answer from the database: %q", out)
	}
	e.Result("ok", "system="+f[0]+" started="+f[1]+" database="+f[2])
	return nil
}
