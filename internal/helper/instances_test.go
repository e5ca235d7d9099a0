package helper

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A machine whose systemd can't be asked runs no instance: the step says
// why and lists none, so status still answers.
func TestInstancesOfAMachineWithoutSystemdAreNone(t *testing.T) {
	var out strings.Builder
	e := &Env{Root: t.TempDir(), Sys: unlistable{NewFakeSystemd()}, Out: &out}
	if err := Instances(context.Background(), e, InstancesArgs{App: "app"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "why systemd can't list units: ") || !strings.HasSuffix(out.String(), "result ok count=0\n") {
		t.Fatalf("output %q", out.String())
	}
}

type unlistable struct{ *FakeSystemd }

func (unlistable) List(context.Context, string) ([]string, error) {
	return nil, errors.New("System has not been booted with systemd as init system (PID 1)")
}
