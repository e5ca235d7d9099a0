package sandboxtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

func stopSecond(code *int) {
	if second != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := second.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "sandboxtest: stop the second sandbox: %v\n", err)
			*code = 1
		}
	}
	if secondDir != "" {
		os.RemoveAll(secondDir)
	}
}
