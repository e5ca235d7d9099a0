package helper

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

type echoArgs struct {
	Word string `json:"word"`
}

func init() {
	Register("test-echo", false, func(ctx context.Context, e *Env, a echoArgs) error {
		rest, _ := io.ReadAll(e.In)
		e.Line("step", a.Word)
		e.Result("ok", "rest="+strings.TrimSpace(string(rest)))
		return nil
	})
}

func runMain(t *testing.T, args []string, stdin string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	rc := run(context.Background(), &Env{Root: t.TempDir(), Sys: NewFakeSystemd(), Out: &out}, args, strings.NewReader(stdin))
	return out.String(), rc
}

func TestMainRunsAStepWithItsArguments(t *testing.T) {
	out, rc := runMain(t, []string{"test-echo"}, `{"protocol":1,"step":"test-echo","args":{"word":"two\nlines"}}`+"\nheartbeat\n")
	if rc != 0 || out != "step two lines\nresult ok rest=heartbeat\n" {
		t.Fatalf("rc %d, output %q", rc, out)
	}
}

func TestMainRefusesInOneLine(t *testing.T) {
	for name, c := range map[string]struct {
		args        []string
		stdin, want string
	}{
		"other protocol": {[]string{"test-echo"}, `{"protocol":99,"step":"test-echo"}`, "speaks protocol 1, the client 99"},
		"unknown step":   {[]string{"nope"}, `{"protocol":1,"step":"nope"}`, `has no step "nope"`},
		"step mismatch":  {[]string{"test-echo"}, `{"protocol":1,"step":"other"}`, `the request is for step "other"`},
		"unknown field":  {[]string{"test-echo"}, `{"protocol":1,"step":"test-echo","args":{"wrod":"x"}}`, `unknown field "wrod"`},
		"no request":     {[]string{"test-echo"}, ``, "reading the request"},
	} {
		t.Run(name, func(t *testing.T) {
			out, rc := runMain(t, c.args, c.stdin)
			if rc == 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "result failed ") || !strings.Contains(out, c.want) {
				t.Fatalf("rc %d, output %q, want one result failed line with %q", rc, out, c.want)
			}
		})
	}
}
