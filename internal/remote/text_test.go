package remote_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
)

func TestCleanEscapesWhatATerminalWouldObey(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\tindented\n":    "plain text\n\tindented\n",
		"\x1b]0;owned\x07\x1b[2J":     `\x1b]0;owned\x07\x1b[2J`,
		"progress 10%\rprogress 100%": `progress 10%\rprogress 100%`,
		"del\x7f nul\x00":             `del\x7f nul\x00`,
		"c1 \u009b31m csi":            `c1 \u009b31m csi`,
		"bidi \u202eevil\u202c":       `bidi \u202eevil\u202c`,
		"bad utf-8 \xff\xfe":          `bad utf-8 \xff\xfe`,
		"héllo wörld ✓":               "héllo wörld ✓",
	} {
		if got := remote.Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// A hostile server prints terminal escapes on stdout and stderr and a flood
// of output: what reaches us is escaped and capped.
func TestRemoteOutputIsEscapedAndCapped(t *testing.T) {
	srv := sshdtest.Start(t)
	c := mustDial(t, srv)
	ctx := context.Background()
	out, err := c.Run(ctx, `printf 'v1 \033]0;owned\007\033[2J\r\n'`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `v1 \x1b]0;owned\x07\x1b[2J\r`+"\n" {
		t.Errorf("stdout %q: escapes reached the caller", got)
	}
	_, err = c.Run(ctx, `printf 'boom \033[31mred\n' >&2; exit 1`, nil)
	var ee *remote.ExitError
	if !errors.As(err, &ee) || strings.ContainsRune(err.Error(), 0x1b) || !strings.Contains(err.Error(), `boom \x1b[31mred`) {
		t.Errorf("stderr in the error: %q", err)
	}
	// 64 MiB of output: the caller gets at most MaxOutput and a marker.
	out, err = c.Run(ctx, `head -c 67108864 /dev/zero | tr '\0' a`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > remote.MaxOutput+200 || !strings.HasSuffix(string(out), "truncated: more than 1 MiB of output]\n") {
		t.Errorf("64 MiB of output came back as %d bytes ending %q", len(out), out[max(0, len(out)-80):])
	}
}
