package build

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestBench runs the benchmark once per mode on a clone, to keep it working;
// the figures themselves come from `go run mage.go benchBuild`.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("seven builds: skipped with -short")
	}
	repo := checkout(t, filepath.Join(t.TempDir(), "repo"))
	var out bytes.Buffer
	res, err := Bench(context.Background(), BenchOptions{Dir: repo, Runs: 1, Stdout: &out})
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
	for _, want := range []string{"median of 1 runs", "wall time, relink", "wall time, up to date", "binary size"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
