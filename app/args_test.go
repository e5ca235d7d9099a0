package app

import (
	"slices"
	"testing"
)

func TestArgsComeFromTheEnvironmentOnlyWithoutArgv(t *testing.T) {
	type env struct {
		v   string
		set bool
	}
	none := env{}
	set := func(v string) env { return env{v, true} }
	for _, tc := range []struct {
		name string
		argv []string
		env  env
		want []string
	}{
		{"argv, nothing set", []string{"version"}, none, []string{"version"}},
		{"nothing at all: serve", nil, none, nil},
		// An instance runs `app serve`: the variable never overrides argv.
		{"argv wins over the variable", []string{"serve"}, set("76657273696f6e20"), []string{"serve"}},
		{"the variable without argv", nil, set("61646d696e 637265617465 2d656d61696c 6124622720 "), []string{"admin", "create", "-email", "a$b' "}},
		{"an empty argument survives", nil, set(" 78 "), []string{"", "x"}},
		{"set but empty: no arguments", nil, set(""), []string{}},
	} {
		got, err := argsOf(tc.argv, tc.env.v, tc.env.set)
		if err != nil || !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"zz ", "6162", "61 6"} {
		if got, err := argsOf(nil, bad, true); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
}
