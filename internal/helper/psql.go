package helper

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"github.com/slipway-dev/slipway/internal/pgenv"
)

func init() {
	Register("psql", false, psqlStep)
	// psql's stdin is the user's (a terminal, or the SQL): its request
	// comes in argv, and holds no secret.
	argvRequest["psql"] = true
}

// PsqlArgs are the psql step's arguments.
type PsqlArgs struct {
	// EnvFile is the service's env file, for messages: systemd loaded it
	// into this step's environment.
	EnvFile string `json:"env_file"`
	// URLVar is the app's database URL variable (DATABASE_URL by default).
	URLVar string `json:"url_var"`
	// Args are psql's arguments (-v ON_ERROR_STOP=1): never SQL, which
	// comes on stdin.
	Args []string `json:"args,omitempty"`
}

var psqlArg = regexp.MustCompile(`^-v$|^ON_ERROR_STOP=1$`)

// psqlKeep are the variables of the unit's environment psql gets: none of
// the app's own settings (PASSWORD_PEPPER...), which systemd loaded too.
var psqlKeep = regexp.MustCompile(`^(PG[A-Z_]*|TERM|LANG|LC_[A-Z_]+|PATH|HOME|USER|LOGNAME|TZ)=`)

// psqlStep runs in a transient unit as the service, where systemd loaded
// the env file: the app's database URL becomes libpq's PG* variables
// (pgenv, pgx's parser: what the app connects with, psql does), and psql
// is exec'd with them and nothing else of the app's settings. The
// password is in no process's arguments, and psql keeps no history.
func psqlStep(_ context.Context, _ *Env, a PsqlArgs) error {
	argv, env, err := psqlInvocation(a, os.Environ())
	if err != nil {
		return err
	}
	bin, err := exec.LookPath("psql")
	if err != nil {
		return fmt.Errorf("psql: run psql on the server: %v (install postgresql-client there)", err)
	}
	return syscall.Exec(bin, argv, env)
}

// psqlInvocation is psql's argv and environment, from the unit's.
func psqlInvocation(a PsqlArgs, environ []string) (argv, env []string, err error) {
	if !envKey.MatchString(a.URLVar) {
		return nil, nil, fmt.Errorf("psql: %q is not a variable name", a.URLVar)
	}
	for _, arg := range a.Args {
		if !psqlArg.MatchString(arg) {
			return nil, nil, fmt.Errorf("psql: argument %q: only -v ON_ERROR_STOP=1 is passed on", arg)
		}
	}
	url := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, a.URLVar+"="); ok {
			url = v
		}
	}
	if url == "" {
		return nil, nil, fmt.Errorf("psql: %s is not set in %s: add it there (sudoedit %s)", a.URLVar, a.EnvFile, a.EnvFile)
	}
	pg, err := pgenv.Vars(a.URLVar+" in "+a.EnvFile, url)
	if err != nil {
		return nil, nil, fmt.Errorf("psql: %w", err)
	}
	set := map[string]bool{}
	for _, kv := range pg {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if psqlKeep.MatchString(kv) && !set[k] {
			env = append(env, kv)
		}
	}
	env = append(append(env, pg...), "PSQL_HISTORY=/dev/null", "HISTFILE=/dev/null")
	return append([]string{"psql"}, a.Args...), env, nil
}
