package targets

import (
	"go/build"
	"slices"
	"testing"

	"github.com/magefile/mage/parse"
)

// What `//mage:import` makes of this package, read by mage's own parser:
// exactly the product targets (today's names), and nothing of the
// configuration API (Configure, Project and its methods are skipped, not
// errors).
func TestUnitMageImportSeesExactlyTheProductTargets(t *testing.T) {
	// As mage does: the package's GoFiles, tests excluded.
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := parse.Package(".", pkg.GoFiles, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range info.Funcs {
		got = append(got, f.TargetName())
	}
	slices.Sort(got)
	want := []string{"Backup", "Backups", "BuildApp", "CheckMigrations", "CreateAdmin", "Deploy", "Dev",
		"Env:Diff", "Env:List", "Env:Set", "Env:Unset", "Exec", "FixMigrations", "Job:Run", "Jobs", "LintMigrations", "Logs",
		"NewMigration", "Provision", "Psql", "PullDB", "ResetDB", "Restore", "Rollback",
		"Sandbox:Down", "Sandbox:Status", "Sandbox:Up", "Seed", "Status"}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n got %q\nwant %q", got, want)
	}
}
