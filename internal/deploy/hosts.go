package deploy

// Several hosts of one app (DEPLOY_HOST=web-1,web-2): they share one
// database, which the first host's deploy migrates and backs up; the
// others find nothing pending. What that rests on is checked here before
// any host changes: every host's DATABASE_URL reaches the same database.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

// dbIdentity is the database a host's DATABASE_URL reaches: the cluster's
// system identifier and the database's name (helper's db-identity). The
// same database reached by a socket on one host and over TCP from another
// has one identity; two clusters that happen to share a name don't.
// Copies of one cluster (servers made from one image, a replica) share
// the identifier: Started, when its postmaster started (µs since 1970),
// tells them apart.
type dbIdentity struct {
	System, Started, Database string
}

func (d dbIdentity) String() string {
	started := d.Started
	if us, err := strconv.ParseInt(d.Started, 10, 64); err == nil {
		started = time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	return fmt.Sprintf("database %s of cluster %s started %s", d.Database, d.System, started)
}

// hostDB is one host's answer.
type hostDB struct {
	Host string
	DB   dbIdentity
}

// databaseIdentity asks the server which database the app's URL reaches,
// as the service user with the app's own settings (TLS included).
func (s *Server) databaseIdentity(ctx context.Context) (dbIdentity, error) {
	out, err := callStep(ctx, s.c, "db-identity", helper.DBIdentityArgs{DBArgs: helper.DBArgs{
		DeployPath: s.svc.DeployPath, EnvFile: s.svc.EnvFile(), URLVar: s.svc.DatabaseURLVar(), User: s.svc.ServiceUser,
	}})
	if err != nil {
		return dbIdentity{}, fmt.Errorf("%s: can't tell which database %s reaches: %w", s.Alias, s.svc.DatabaseURLVar(), err)
	}
	var id dbIdentity
	for _, w := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(string(out)), "result ok ")) {
		k, v, _ := strings.Cut(w, "=")
		switch k {
		case "system":
			id.System = v
		case "started":
			id.Started = v
		case "database":
			id.Database = v
		}
	}
	if id.System == "" || id.Started == "" || id.Database == "" {
		return id, fmt.Errorf("%s: db-identity said %q", s.Alias, out)
	}
	return id, nil
}

// sameDatabase connects to every host (when there are several), refuses
// hosts whose DATABASE_URL reach different databases, then runs each on
// every host (nil: nothing more), before anything changes anywhere.
func sameDatabase(ctx context.Context, o Options, each func(*Server) error) error {
	if len(o.Hosts) < 2 {
		return nil
	}
	var servers []*Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	var got []hostDB
	for _, host := range o.Hosts {
		s, err := connect(ctx, o, host)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		id, err := s.databaseIdentity(ctx)
		if err != nil {
			return err
		}
		got = append(got, hostDB{Host: host, DB: id})
	}
	if err := differentDatabases(got, o.Service.DatabaseURLVar()); err != nil {
		return err
	}
	if each != nil {
		for _, s := range servers {
			if err := each(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// differentDatabases is the one-line refusal of hosts that don't all
// reach the first host's database, naming each and what it reaches.
func differentDatabases(hosts []hostDB, urlVar string) error {
	if len(hosts) == 0 {
		return nil
	}
	first := hosts[0]
	var odd []string
	for _, h := range hosts[1:] {
		if h.DB != first.DB {
			odd = append(odd, fmt.Sprintf("%s reaches %s", h.Host, h.DB))
		}
	}
	if len(odd) == 0 {
		return nil
	}
	return fmt.Errorf("the hosts use different databases: %s reaches %s, but %s; every host of one app must use the same database: fix %s there (env:set), then run this again",
		first.Host, first.DB, strings.Join(odd, ", "), urlVar)
}

// stoppedAt is the first line of a change of several hosts that failed on
// hosts[i]: which hosts changed, which failed and which were not tried.
// done says where the hosts before it are ("on the new release").
func stoppedAt(hosts []string, i int, what, done string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed on %s (%d of %d): ", what, hosts[i], i+1, len(hosts))
	if i == 0 {
		b.WriteString("no host changed")
	} else {
		fmt.Fprintf(&b, "%s %s, %s on what it ran", strings.Join(hosts[:i], ", "), done, hosts[i])
	}
	if rest := hosts[i+1:]; len(rest) > 0 {
		fmt.Fprintf(&b, ", %s not tried", strings.Join(rest, ", "))
	}
	if i > 0 {
		b.WriteString("; the next good run brings every host to one release")
	}
	return b.String()
}
