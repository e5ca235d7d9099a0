package app_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/slipversion"
)

// runtimeInternal is every internal package an app's binary may hold: the
// runtime and the admin area, none of the release tooling.
var runtimeInternal = []string{
	"admin", "clientip", "config", "logging", "metrics", "migrate", "password",
	"postgres", "users", "version", "watchdog", "web",
}

// tooling are modules of the release tooling and of tests that must never
// reach an app's binary.
var tooling = []string{
	"golang.org/x/crypto/ssh",
	"github.com/bramvdbogaerde/go-scp",
	"github.com/kevinburke/ssh_config",
	"github.com/wasilibs/go-pgquery",
	"github.com/tetratelabs/wazero",
	"github.com/pganalyze/pg_query_go",
	"github.com/magefile/mage",
	"testing",
}

// TestAnAppLinksNoneOfTheReleaseTooling lists what this repository's app
// and the smallest adopter (testdata/minimal) link: no SSH, SCP, lint
// parser, sandbox, mage or test harness, and of Slipway's internal packages
// only the runtime's.
func TestAnAppLinksNoneOfTheReleaseTooling(t *testing.T) {
	module := slipversion.Module() + "/" // a renamed copy names itself
	for _, main := range []string{"../cmd/app", "./testdata/minimal"} {
		out, err := exec.Command("go", "list", "-deps", main).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", main, err, out)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, module+"app") {
			t.Fatalf("go list -deps %s: no %sapp in\n%s", main, module, out)
		}
		for _, d := range deps {
			if rest, ok := strings.CutPrefix(d, module+"internal/"); ok && !slices.Contains(runtimeInternal, rest) {
				t.Errorf("%s links %s: not part of the runtime (release tooling or a test harness)", main, d)
			}
			for _, bad := range tooling {
				if d == bad || strings.HasPrefix(d, bad+"/") {
					t.Errorf("%s links %s", main, d)
				}
			}
		}
	}
}
