// Package appexectest puts the real app on the sandbox as the current
// release, the way deploy would leave it, for tests of what runs it there
// (exec, createAdmin).
package appexectest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// Installed provisions the app's service on the test binary's sandbox
// (on a free port), writes the env file (DATABASE_URL, then the extra
// lines), builds the app from root with the given stamp and makes it the
// current release. It returns the connection and the service's settings.
func Installed(t *testing.T, root, version, commit string, extraEnv ...string) (*remote.Client, service.Config) {
	t.Helper()
	sb := sandboxtest.Get(t)
	ctx := context.Background()
	cl := sandboxtest.Dial(t, sb)
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	c := service.DefaultConfig()
	c.ListenAddr = "127.0.0.1:" + strconv.Itoa(port)
	var out bytes.Buffer
	if _, err := service.Provision(ctx, cl, c, &out); err != nil {
		t.Fatalf("provision: %v\n%s", err, out.String())
	}
	dbURL, err := sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(append([]string{"DATABASE_URL=" + dbURL}, extraEnv...), "\n") + "\n"
	// Secrets through stdin, never argv.
	if o, err := cl.RunRoot(ctx, "umask 077; cat > "+remote.Quote(c.EnvFile()), strings.NewReader(env)); err != nil {
		t.Fatalf("env file: %v\n%s", err, o)
	}
	bin := filepath.Join(t.TempDir(), "app")
	if _, err := build.Run(ctx, build.Options{Dir: root, GOARCH: runtime.GOARCH, Output: bin, Version: version, Commit: commit}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A release of this run's own: the sandbox may still run an earlier one.
	id := "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	rel := c.ReleasesDir() + "/" + id
	if o, err := cl.Run(ctx, "set -e; mkdir -p "+rel+"; cat > "+rel+"/app; chmod 755 "+rel+"/app; ln -sfn releases/"+id+" "+c.CurrentLink()+"; chmod 700 "+c.DeployPath, f); err != nil {
		t.Fatalf("install: %v\n%s", err, o)
	}
	return cl, c
}
