package remote

import (
	"slices"
	"strings"
	"testing"
)

// splitWords reads back exactly what QuoteAll writes, whatever the words
// hold, so a command built from argv reaches sudo as that argv.
func TestUnitSplitWordsReversesQuoteAll(t *testing.T) {
	for _, words := range [][]string{
		{"journalctl", "--no-pager", "-n", "50", "_SYSTEMD_UNIT=app@x.service", "+"},
		{"printf", "%s|", "a b", "it's", "", `\`, "$HOME", "`id`", "a;b", "x\ny", `"q"`, "'", "''"},
		{"perl", "-e", "print qq{$ARGV[0]\\n};", "--", "-v"},
	} {
		got, err := splitWords(QuoteAll(words))
		if err != nil {
			t.Errorf("%q: %v", words, err)
			continue
		}
		if !slices.Equal(got, words) {
			t.Errorf("QuoteAll(%q) read back as %q", words, got)
		}
	}
}

// Anything a shell would run as more than one command, or expand, is
// refused in one line that says how to build the command.
func TestUnitSplitWordsRefusesShell(t *testing.T) {
	for _, cmd := range []string{
		"echo a; echo b", "a | b", "a && b", "a || b", "echo $HOME", "echo $(id)", "echo `id`",
		"a > /etc/passwd", "a < f", "a &", "echo a\necho b", "echo 'open", "echo *", "echo ~", "(a)", "",
	} {
		_, err := splitWords(cmd)
		if err == nil {
			t.Errorf("%q accepted", cmd)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "remote") {
			t.Errorf("%q: %q", cmd, msg)
		}
	}
}

// Root runs the command as written; another user runs it behind sudo -n,
// with no shell between.
func TestUnitRootCommandNeedsNoShell(t *testing.T) {
	cmd := QuoteAll([]string{"psql", "-c", "select 'a b';"})
	if got, err := rootCommand("root", cmd); err != nil || got != cmd {
		t.Errorf("root: %q, %v", got, err)
	}
	got, err := rootCommand("admin", cmd)
	if err != nil || got != "sudo -n -- "+cmd {
		t.Errorf("admin: %q, %v", got, err)
	}
	if _, err := rootCommand("admin", "a; b"); err == nil {
		t.Error("a script was accepted")
	}
}
