package targets

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/devdb"
	"github.com/slipway-dev/slipway/internal/lint"
)

// The targets' settings: the Project, then the environment read through
// the Project's getenv (project.go holds the only reads of the process
// environment). A target resolves its settings here, then calls one
// internal package function that does the work.

// deployOptions validates the project, then reads the DEPLOY_* and APP_*
// settings over it: APP_NAME defaults to Project.Name, the binary is
// bin/<Name>, the env file's database URL variable Project.DatabaseURL.
func deployOptions() (Project, deploy.Options, error) {
	p, err := configured()
	if err != nil {
		return p, deploy.Options{}, err
	}
	o, err := deploy.FromEnv(p.getenv)
	o.Binary = p.Binary()
	o.Service.DatabaseURL = p.DatabaseURL
	o.Stdout, o.Log = os.Stdout, targetLog()
	return p, o, err
}

// provisionOptions is deployOptions, then provision's own settings
// (PROVISION_DATABASE, PROVISION_FIREWALL, PROVISION_FIREWALL_PORTS,
// PROVISION_UPGRADES, PROVISION_SSH_PASSWORDS, the front door's
// APP_DOMAIN, ACME_*).
func provisionOptions() (deploy.Options, deploy.ProvisionOptions, error) {
	p, o, err := deployOptions()
	if err != nil {
		return o, deploy.ProvisionOptions{}, err
	}
	po, err := deploy.ProvisionFromEnv(p.getenv, o.Service)
	return o, po, err
}

// execArgs are the arguments after `exec --`: bootstrap.Main takes them
// out of mage's sight into SLIPWAY_EXEC_ARGS, a JSON array.
func execArgs(p Project) ([]string, error) {
	var args []string
	if v := p.getenv("SLIPWAY_EXEC_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			return nil, fmt.Errorf("SLIPWAY_EXEC_ARGS: %v", err)
		}
	}
	return args, nil
}

// devDB points the database targets at the local database (the project's
// DatabaseURL variable, else .dev/) and migrations.
func devDB(force *bool) (devdb.Options, error) {
	p, err := configured()
	if err != nil {
		return devdb.Options{}, err
	}
	return devdb.Options{Root: root(), Dir: p.Migrations, SeedFile: p.Seed, Getenv: p.getenv, Force: force != nil && *force, Stdout: os.Stdout}, nil
}

// lintCache is the lint's result cache: $SLIPWAY_LINT_CACHE, "off" for
// none, default slipway/lint in the user cache directory.
func lintCache(p Project) lint.Option {
	switch dir := p.getenv("SLIPWAY_LINT_CACHE"); dir {
	case "off":
		return lint.WithCache("")
	case "":
		return lint.WithCache(lint.DefaultCacheDir())
	default:
		return lint.WithCache(dir)
	}
}
