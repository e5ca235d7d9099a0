package helper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// SwapArgs are restore-swap's: put the database the restore prepared
// (<db>_restore) in place of the live one and make Release live on it.
type SwapArgs struct {
	// Detached is the transient unit the swap runs in.
	Detached Detached `json:"detached"`
	// App is APP_NAME: units <app>@<release>.service.
	App string `json:"app"`
	// DeployPath holds releases/, current, previous and deploy.log.
	DeployPath string `json:"deploy_path"`
	// EnvFile is the app's env file; URLVar the variable in it that holds
	// the database URL (DATABASE_URL).
	EnvFile string `json:"env_file"`
	URLVar  string `json:"url_var"`
	// Release is the release to start on the restored database.
	Release string `json:"release"`
	// ReadyTimeoutMS bounds its start.
	ReadyTimeoutMS int64 `json:"ready_timeout_ms"`
	// LogLine starts the deploy.log line ("" appends none).
	LogLine string `json:"log_line,omitempty"`
	// Procs, when set, stops the workers with the instances and makes the
	// job and worker units follow Release once it is ready (syncProcs).
	Procs *ProcUnits `json:"procs,omitempty"`
}

var swapURLVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check refuses arguments that would name another unit, folder or file.
func (a SwapArgs) Check() error {
	if err := checkApp(a.App); err != nil {
		return err
	}
	if err := checkAbsPath("deploy path", a.DeployPath); err != nil {
		return err
	}
	if err := checkAbsPath("env file", a.EnvFile); err != nil {
		return err
	}
	if !swapURLVarRE.MatchString(a.URLVar) {
		return fmt.Errorf("database URL variable %q: want letters, digits and _", a.URLVar)
	}
	if err := checkRelease("release", a.Release); err != nil {
		return err
	}
	if a.ReadyTimeoutMS <= 0 {
		return fmt.Errorf("ready timeout %dms: want above 0", a.ReadyTimeoutMS)
	}
	if strings.ContainsAny(a.LogLine, "\r\n") {
		return fmt.Errorf("log line holds a line break")
	}
	return nil
}

func init() {
	Register("restore-swap", true, func(ctx context.Context, e *Env, a SwapArgs) error {
		if err := a.Check(); err != nil {
			return fmt.Errorf("restore-swap: %w", err)
		}
		return Detach(ctx, e, a.Detached, "restore-swap-run", a)
	})
	Register("restore-swap-run", true, Swap)
}

// pgAdmin runs SQL as the local PostgreSQL superuser, for what the app's
// role may not do: rename and drop databases.
type pgAdmin struct {
	// env is libpq's environment: the server the app's URL names, as
	// user postgres, without the app's password.
	env []string
	// cred runs psql as the postgres OS user (peer authentication); nil
	// keeps the caller's.
	cred *syscall.Credential
}

// exec runs each statement (psql -c, one transaction each) and returns
// the output of the last one, or its error in one line.
func (p pgAdmin) exec(ctx context.Context, sql ...string) (string, error) {
	args := []string{"-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"}
	for _, s := range sql {
		args = append(args, "-c", s)
	}
	cmd := exec.CommandContext(ctx, "psql", args...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "PGAPPNAME=slipway-restore"}, p.env...)
	cmd.Dir = "/"
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if len(msg) > 400 {
			msg = msg[:400]
		}
		return "", fmt.Errorf("%s", oneLine(msg))
	}
	return strings.TrimSpace(string(out)), nil
}

// swapDatabase reads the app's database from its env file, as systemd gives
// it to the app (DatabaseEnv: envfile, then pgx's parser), and the local
// superuser's connection to its server (superuserVars: peer
// authentication over the socket, as restore-prepare reaches it).
func swapDatabase(e *Env, envFile, urlVar string) (pgAdmin, string, error) {
	vars, err := DatabaseEnv(e, envFile, urlVar)
	if err != nil {
		return pgAdmin{}, "", err
	}
	db, err := appDatabase(vars, urlVar, envFile)
	if err != nil {
		return pgAdmin{}, "", err
	}
	admin := pgAdmin{env: superuserVars(vars)}
	u, err := user.Lookup(pgSuperuser)
	if err != nil {
		return pgAdmin{}, "", fmt.Errorf("no postgres user on the server: a restore renames databases as the local PostgreSQL superuser")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	admin.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return admin, db, nil
}

// Swap puts <db>_restore (the restore's first step made it) in place of
// the app's database and makes a.Release live on it, in the transient
// unit restore-swap started: every instance stops (the socket keeps
// queueing connections, none is refused), the databases are renamed,
// current and previous are switched when the release isn't current, and
// its instance starts (the switch's start: ready means migrated and
// serving). Downtime is from the stop to ready. An instance that doesn't
// get ready undoes it all: the old database, links and instance are back.
func Swap(ctx context.Context, e *Env, a SwapArgs) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("restore-swap: %w", err)
	}
	pg, db, err := swapDatabase(e, a.EnvFile, a.URLVar)
	if err != nil {
		return err
	}
	return swap(ctx, e, a, pg, db)
}

func swap(ctx context.Context, e *Env, a SwapArgs, pg pgAdmin, db string) error {
	sys := context.WithoutCancel(ctx)
	die := func(msg string) error {
		e.Result("failed", msg)
		return ErrFailed
	}
	s := newSwitcher(e, a.App, a.DeployPath)
	if st, err := os.Stat(e.Path(a.DeployPath)); err != nil || !st.IsDir() {
		return die("no " + a.DeployPath)
	}
	cur, prev := s.rel("current"), s.rel("previous")
	if !s.hasRelease(a.Release) {
		return die("no release " + a.Release + " on the server")
	}
	fresh, old := db+"_restore", db+"_before_restore"
	id := func(name string) string { return pgx.Identifier{name}.Sanitize() }
	if n, err := pg.exec(sys, "SELECT count(*) FROM pg_database WHERE datname = '"+fresh+"'"); err != nil || n != "1" {
		if err != nil {
			return die(fmt.Sprintf("as the local postgres superuser: %v", err))
		}
		return die("no restored database " + fresh + ": the restore's first step did not finish")
	}
	term := func() {
		_, _ = pg.exec(sys, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN ('"+db+"', '"+fresh+"', '"+old+"') AND pid <> pg_backend_pid()")
	}
	startCur := func() {
		if cur != "" {
			_ = e.Sys.Start(sys, s.instance(cur), true)
			s.syncProcs(sys, a.Procs, cur, cur)
		}
	}
	_, _ = pg.exec(sys, "DROP DATABASE IF EXISTS "+id(old)+" WITH (FORCE)")
	t0 := e.Time()
	units, _ := e.Sys.List(sys, a.App+"@*.service")
	for _, u := range units {
		_ = e.Sys.Stop(sys, u)
	}
	e.Line("step", "instances stopped, the socket queues new connections")
	if a.Procs != nil {
		// Nothing of the app on the database while it is swapped.
		s.stopWorkers(sys, nil)
	}
	// The app's other hosts (and their load balancer's /readyz checks)
	// connect again as soon as term() ends their sessions, which would make
	// the rename fail: the live database takes no connection from here on,
	// the restored one takes its name with connections allowed.
	allow := func() { _, _ = pg.exec(sys, "ALTER DATABASE "+id(db)+" ALLOW_CONNECTIONS true") }
	_, _ = pg.exec(sys, "ALTER DATABASE "+id(db)+" ALLOW_CONNECTIONS false")
	term()
	if _, err := pg.exec(sys, "ALTER DATABASE "+id(db)+" RENAME TO "+id(old)); err != nil {
		allow()
		startCur()
		return die(fmt.Sprintf("rename %s: %v; nothing changed", db, err))
	}
	if _, err := pg.exec(sys, "ALTER DATABASE "+id(fresh)+" RENAME TO "+id(db)); err != nil {
		_, _ = pg.exec(sys, "ALTER DATABASE "+id(old)+" RENAME TO "+id(db))
		allow()
		startCur()
		return die(fmt.Sprintf("rename %s: %v; nothing changed", fresh, err))
	}
	e.Line("step", fmt.Sprintf("%s is the restored database (%s kept until %s is ready)", db, old, a.Release))
	if a.Release != cur {
		p := cur
		if p == "" && prev != a.Release {
			p = prev
		}
		if err := s.setLinks(a.Release, p); err != nil {
			e.Line("log", err.Error())
		}
		none := cur
		if none == "" {
			none = "none"
		}
		e.Line("step", fmt.Sprintf("current -> releases/%s, previous -> %s", a.Release, none))
	}
	var st started
	unit := s.instance(a.Release)
	if _, why := s.startReady(ctx, unit, time.Duration(a.ReadyTimeoutMS)*time.Millisecond, "", &st); why != "" {
		e.Line("why", why)
		s.stopFailed(sys, &st)
		term()
		_, _ = pg.exec(sys, "ALTER DATABASE "+id(db)+" RENAME TO "+id(fresh), "ALTER DATABASE "+id(old)+" RENAME TO "+id(db))
		allow()
		if a.Release != cur && cur != "" {
			if err := s.setLinks(cur, prev); err != nil {
				e.Line("log", err.Error())
			}
		}
		startCur()
		back := cur
		if back == "" {
			back = "none"
		}
		return die(fmt.Sprintf("%s did not get ready on the restored database (%s): undone, %s and release %s are back", unit, why, db, back))
	}
	down := e.Time().Sub(t0).Milliseconds()
	s.syncProcs(sys, a.Procs, a.Release, a.Release)
	_ = e.Sys.Start(sys, a.App+"-current.service", true)
	_, _ = pg.exec(sys, "DROP DATABASE IF EXISTS "+id(old)+" WITH (FORCE)")
	if a.LogLine != "" {
		s.appendLog(fmt.Sprintf("%s release=%s downtime=%dms result=ok", a.LogLine, a.Release, down))
	}
	e.Result("ok", fmt.Sprintf("release=%s downtime_ms=%d", a.Release, down))
	return nil
}
