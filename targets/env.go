package targets

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/password"
)

// ---- settings ----

// Env changes and compares the service's env file on every $DEPLOY_HOST: env:set, env:unset, env:list, env:diff.
// A change is checked by the live release, then applied with a deploy's
// handover (no failed request) and logged in deploy.log, never its value.
type Env mg.Namespace

// Set sets KEY in the env file on every host; the value comes from stdin, or a prompt without echo, never argv: env:set KEY [-force].
// Every host is reached, locked and has the live release load the new file
// before any changes; then each restarts with it as a deploy does. A name
// the app doesn't read is refused unless -force.
func (Env) Set(ctx context.Context, key string, force *bool) error {
	if _, err := configured(); err != nil {
		return err
	}
	v, err := envfile.ReadValue(key, os.Stdin, os.Stderr)
	if err != nil {
		return err
	}
	return setEnv(ctx, envfile.Change{Key: key, Value: v}, force)
}

// Unset removes KEY from the env file on every host, as env:set changes it: env:unset KEY [-force].
func (Env) Unset(ctx context.Context, key string, force *bool) error {
	return setEnv(ctx, envfile.Change{Key: key, Unset: true}, force)
}

func setEnv(ctx context.Context, ch envfile.Change, force *bool) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.SetEnv(ctx, o, ch, force != nil && *force)
	return err
}

// List prints the names in each host's env file, never a value; -values shows the values, on a terminal only, after you confirm.
func (Env) List(ctx context.Context, values *bool) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	if values == nil || !*values {
		_, err = deploy.ListEnv(ctx, o)
		return err
	}
	confirm := func(prompt string) (bool, error) {
		fmt.Fprint(os.Stderr, prompt)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		return strings.TrimSpace(line) == "yes", err
	}
	return deploy.ListEnvValues(ctx, o, password.IsTerminal(os.Stdout) && password.IsTerminal(os.Stdin), confirm)
}

// Diff prints the names whose values differ between the hosts of $DEPLOY_HOST, compared by a hash made on each server: values never travel.
func (Env) Diff(ctx context.Context) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	_, err = deploy.DiffEnv(ctx, o)
	return err
}
