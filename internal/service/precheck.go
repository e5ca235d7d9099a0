package service

import (
	"context"
	"maps"
	"slices"
)

// CheckProvision runs provision's read-only checks on the server r reaches
// and changes nothing there: the config (Validate), then the guard (the
// units, env folder and account provision would take must be Slipway's or
// absent), which also proves that root is reachable (sudo -n). Provision
// of several hosts runs it on every host before it changes the first.
func CheckProvision(ctx context.Context, r Runner, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	units, err := Units(c)
	if err != nil {
		return err
	}
	return checkServer(ctx, r, c, slices.Sorted(maps.Keys(units)))
}
