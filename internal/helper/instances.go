package helper

import (
	"context"
	"fmt"
)

// InstancesArgs are the instances step's: the app whose release instances
// to list.
type InstancesArgs struct {
	App string `json:"app"`
}

func init() {
	Register("instances", false, Instances)
}

// Instances prints one line per release instance systemd knows, running
// or not, and the old layout's single service if its unit file is still
// installed:
//
//	instance <unit>\t<ActiveState>/<SubState>\t<MainPID>\t<StatusText>
//
// then "result ok count=<n>".
func Instances(ctx context.Context, e *Env, a InstancesArgs) error {
	if err := checkApp(a.App); err != nil {
		return fmt.Errorf("instances: %w", err)
	}
	units, err := e.Sys.List(ctx, a.App+"@*.service")
	if err != nil {
		// A machine whose systemd can't be asked (a container without it
		// as PID 1) runs no instance: status shows none, and why.
		e.Line("why", "systemd can't list units: "+err.Error())
		e.Result("ok", "count=0")
		return nil
	}
	if lexists(e.Path(legacyUnitDir + "/" + a.App + ".service")) {
		units = append(units, a.App+".service")
	}
	for _, u := range units {
		p, err := e.Sys.Show(ctx, u, "ActiveState", "SubState", "MainPID", "StatusText")
		if err != nil {
			return fmt.Errorf("instances: %w", err)
		}
		e.Line("instance", u+"\t"+p["ActiveState"]+"/"+p["SubState"]+"\t"+p["MainPID"]+"\t"+p["StatusText"])
	}
	e.Result("ok", fmt.Sprintf("count=%d", len(units)))
	return nil
}
