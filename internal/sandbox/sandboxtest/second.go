package sandboxtest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox"
)

var (
	secondOnce sync.Once
	second     *sandbox.Instance
	secondDir  string
	secondErr  error
)

// Second returns a second sandbox of the package, booted on first use and
// stopped by Main like the first: for the multi-host cases (two servers of
// one DEPLOY_HOST). Both answer to the alias "sandbox" in their own ssh
// config: give them one config of two aliases with remote.HostEntry.
func Second(t testing.TB) *sandbox.Instance {
	t.Helper()
	Get(t)
	secondOnce.Do(func() { second, secondDir, secondErr = boot(fmt.Sprintf("test-%d-2", os.Getpid())) })
	booted(t, "second sandbox: ", secondErr)
	return second
}
