package deploy

import (
	"testing"

	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
)

func sandboxMain(m *testing.M) int { return sandboxtest.Main(m) }
