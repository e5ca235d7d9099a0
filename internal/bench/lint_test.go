package bench

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/slipway-dev/slipway/internal/lint"
)

// The generated corpus must parse, and only its last template is unsafe.
func TestLintCorpusParsesWithTheFindingsItWasWrittenFor(t *testing.T) {
	dir := t.TempDir()
	names, err := writeCorpus(dir, len(corpusTemplates))
	if err != nil {
		t.Fatal(err)
	}
	got, err := lint.Dir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, names[len(names)-1])
	var rules []string
	for _, f := range got {
		if f.Path != last {
			t.Errorf("unexpected finding: %v", f)
		}
		rules = append(rules, f.Rule)
	}
	want := []string{"add-column-volatile-default", "missing-lock-timeout", "rename-column", "missing-lock-timeout", "create-index-non-concurrently"}
	if !slices.Equal(rules, want) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
}
