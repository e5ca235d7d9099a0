package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuild runs the benchmark once per mode on a clone, to keep it
// working; the figures themselves come from `go run mage.go bench:build`.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("seven builds: skipped with -short")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("git", "clone", "--quiet", "../..", repo).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	res, err := Build(context.Background(), BuildOptions{Dir: repo, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Relink.BuildApp <= 0 || res.Relink.GoBuild <= 0 || res.UpToDate.BuildApp <= 0 || res.UpToDate.GoBuild <= 0 {
		t.Errorf("timings = %+v, want all positive", res)
	}
	// Stripping alone must make the binary smaller than a default build.
	if res.Size <= 0 || res.Size >= res.DefaultSize {
		t.Errorf("size %d, default build %d: want smaller", res.Size, res.DefaultSize)
	}
	var out bytes.Buffer
	res.Print(&out)
	for _, want := range []string{"median of 1 runs", "wall time, relink", "wall time, up to date", "binary size"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
