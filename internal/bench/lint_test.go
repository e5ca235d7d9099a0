package bench

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/slipway-dev/slipway/internal/lint"
)

// The generated corpus must parse, and only its last two templates are
// unsafe, in these ways (the trigger is created without lock_timeout).
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
	unsafe := []string{filepath.Join(dir, names[len(names)-2]), filepath.Join(dir, names[len(names)-1])}
	var rules []string
	for _, f := range got {
		if !slices.Contains(unsafe, f.Path) {
			t.Errorf("unexpected finding: %v", f)
		}
		rules = append(rules, f.Rule)
	}
	want := []string{"missing-lock-timeout", "add-column-volatile-default", "missing-lock-timeout", "rename-column",
		"missing-lock-timeout", "create-index-non-concurrently", "missing-lock-timeout"}
	if !slices.Equal(rules, want) {
		t.Errorf("rules = %v, want %v", rules, want)
	}
}
