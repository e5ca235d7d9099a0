package main

import (
	"slices"
	"testing"
)

func TestArgsComeFromTheEnvironmentOnlyWithoutArgv(t *testing.T) {
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == argsEnv }
	}
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		name   string
		argv   []string
		lookup func(string) (string, bool)
		want   []string
	}{
		{"argv, nothing set", []string{"version"}, none, []string{"version"}},
		{"nothing at all: serve", nil, none, nil},
		// An instance runs `app serve`: the variable never overrides argv.
		{"argv wins over the variable", []string{"serve"}, env("76657273696f6e20"), []string{"serve"}},
		{"the variable without argv", nil, env("61646d696e 637265617465 2d656d61696c 6124622720 "), []string{"admin", "create", "-email", "a$b' "}},
		{"an empty argument survives", nil, env(" 78 "), []string{"", "x"}},
		{"set but empty: no arguments", nil, env(""), []string{}},
	} {
		got, err := argsOf(tc.argv, tc.lookup)
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"zz ", "6162", "61 6"} {
		if got, err := argsOf(nil, env(bad)); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
}
