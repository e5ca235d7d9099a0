package sandboxtest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

var (
	emptyOnce sync.Once
	empty     *sandbox.Instance
	emptyDir  string
	emptyErr  error
)

// Empty returns a sandbox of the package booted without PostgreSQL
// (sandbox.WithoutPostgreSQL): the empty server provision starts from. It
// boots on first use and Main stops it like the others; Get's sandbox is
// not booted for it.
func Empty(t testing.TB) *sandbox.Instance {
	t.Helper()
	if !mainRunning {
		t.Fatal("sandboxtest.Empty needs TestMain to call sandboxtest.Main, which stops the sandbox")
	}
	if testing.Short() {
		t.Skip("needs the sandbox (a booted Debian server): skipped with -short")
	}
	emptyOnce.Do(func() {
		empty, emptyDir, emptyErr = boot(fmt.Sprintf("test-%d-e", os.Getpid()), sandbox.WithoutPostgreSQL())
	})
	booted(t, "empty sandbox: ", emptyErr)
	return empty
}
