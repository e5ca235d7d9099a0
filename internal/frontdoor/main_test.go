package frontdoor_test

import (
	"os"
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) { os.Exit(sandboxtest.Main(m)) }
