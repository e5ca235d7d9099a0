package sandbox

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

var dbNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// FreshDatabase drops and creates the database name, owned by the app's
// role, and returns its connection string (as DatabaseURL: holds the
// password, never log it). Tests and benchmarks point the app at one to
// have its migrations run from scratch.
func (i *Instance) FreshDatabase(ctx context.Context, name string) (string, error) {
	if !dbNameRE.MatchString(name) || name == "app" {
		return "", fmt.Errorf("sandbox: database name %q: use lower-case letters, digits and _, not app", name)
	}
	if out, err := i.Run(ctx, "runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-q",
		"-c", "DROP DATABASE IF EXISTS "+name, "-c", "CREATE DATABASE "+name+" OWNER app"); err != nil {
		return "", fmt.Errorf("sandbox: create database %s: %w: %s", name, err, out)
	}
	url, err := i.DatabaseURL()
	if err != nil {
		return "", err
	}
	return strings.Replace(url, "@/app?", "@/"+name+"?", 1), nil
}
