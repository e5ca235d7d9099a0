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
// "result ok system=<id> database=<name>", the cluster's system identifier
// (pg_control_system(), which any role may read, the same whichever
// address reaches the cluster: a socket on one host, TCP from another)
// and the database connected to. Several hosts of one app compare these
// before a deploy (deploy's sameDatabase).
func dbIdentity(ctx context.Context, e *Env, a DBIdentityArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	vars, db, err := a.vars(e)
	if err != nil {
		return failed(e, "%v", err)
	}
	out, err := psqlAs(ctx, a.User, vars, "SELECT system_identifier::text || ' ' || current_database() FROM pg_control_system()")
	if err != nil {
		user := dbVar(vars, "PGUSER")
		if user == "" {
			user = a.User
		}
		return failed(e, "cannot connect to database %s as %s: %v", db, user, err)
	}
	id, name, _ := strings.Cut(out, " ")
	if !systemIDRE.MatchString(id) || !dbNameRE.MatchString(name) {
		return failed(e, "unexpected answer from the database: %q", out)
	}
	e.Result("ok", "system="+id+" database="+name)
	return nil
}
