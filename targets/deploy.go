package targets

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/slipway-dev/slipway/internal/deploy"
)

// ---- deploy ----

// Deploy ships bin/app to $DEPLOY_HOST (ssh config aliases, comma-separated: one at a time), without a stall.
// Upload into a new release, sha256 checked on the server; the server then
// starts it beside the live release on the same socket and switches to it
// only once it is ready with the new commit; not ready: it is stopped and
// the live release never stopped.
// -dryRun prints the resolved ssh connection and the steps, connecting nowhere.
func Deploy(ctx context.Context, dryRun *bool) error {
	if _, err := configured(); err != nil {
		return err
	}
	mg.CtxDeps(ctx, CheckMigrations)
	p, o, err := deployOptions()
	if err != nil {
		return err
	}
	if dryRun != nil && *dryRun {
		fmt.Fprintln(os.Stdout, p)
	}
	_, err = deploy.Deploy(ctx, o, dryRun != nil && *dryRun)
	return err
}

// Rollback switches $DEPLOY_HOST back to its previous release (or -release=<id or prefix>) as deploy does: beside the live one, once ready.
func Rollback(ctx context.Context, release *string) error {
	_, o, err := deployOptions()
	if err != nil {
		return err
	}
	name := ""
	if release != nil {
		name = *release
	}
	return deploy.Rollback(ctx, o, name)
}

// Status shows each $DEPLOY_HOST's current release, served version, which instance runs which release, releases, lock and last deploys.
// -json prints the same as one JSON document (field names in docs/deploy.md).
func Status(ctx context.Context, json *bool) error {
	p, o, err := deployOptions()
	if err != nil {
		return err
	}
	if json != nil && *json {
		return deploy.StatusJSON(ctx, o, 10)
	}
	fmt.Fprintln(os.Stdout, p)
	return deploy.Status(ctx, o, 10)
}
