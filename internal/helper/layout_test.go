package helper

import (
	"os"
	"testing"
)

func TestLayoutReadPrintsTheStampAndWhereTheUnitsRunTheApp(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	args := LayoutArgs{DeployPath: "/srv/app", AppName: "app", UnitDir: "/etc/systemd/system"}
	if out, rc := runStep(t, e, "layout-read", args); rc != 0 || out != "" {
		t.Fatalf("a bare server: rc %d, %q", rc, out)
	}
	writeFiles(t, e, map[string]string{
		"/srv/app/.slipway": "layout 2\n",
		// The template as Slipway writes it (service/units.go).
		"/etc/systemd/system/app@.service": "[Service]\nExecStart=/bin/sh -c 'r=$${1%%.g*}; SLIPWAY_RELEASE=$$r exec /home/admin/releases/\"$$r\"/app serve' app %i\n" +
			"ExecStart=/bin/sh -c 'x exec /other/releases/\"x\"'\n",
	})
	if out, _ := runStep(t, e, "layout-read", args); out != "layout 2\n\ninstalled-at /home/admin -\n" {
		t.Errorf("no socket: %q", out)
	}
	writeFiles(t, e, map[string]string{"/etc/systemd/system/app.socket": "[Socket]\nListenStream=127.0.0.1:8080\n"})
	if out, _ := runStep(t, e, "layout-read", args); out != "layout 2\n\ninstalled-at /home/admin 127.0.0.1:8080\n" {
		t.Errorf("with the socket: %q", out)
	}
}

func TestLayoutWriteChangesTheStampOnlyWhenItDiffers(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	args := LayoutWriteArgs{DeployPath: "/srv/app", Stamp: "layout 2\napp app\n"}
	for i, want := range []string{"result ok changed\n", "result ok unchanged\n"} {
		if out, rc := runStep(t, e, "layout-write", args); rc != 0 || out != want {
			t.Errorf("write %d: rc %d, %q, want %q", i, rc, out, want)
		}
	}
	if b, _ := os.ReadFile(e.Path("/srv/app/.slipway")); string(b) != args.Stamp {
		t.Errorf(".slipway %q", b)
	}
	if left, _ := os.ReadDir(e.Path("/srv/app")); len(left) != 1 {
		t.Errorf("files beside the stamp: %v", left)
	}
}

func TestLayoutStepsRefuseABadAppNameInOneLine(t *testing.T) {
	e := Env{Root: t.TempDir(), Sys: NewFakeSystemd()}
	out, rc := runStep(t, e, "layout-read", LayoutArgs{DeployPath: "/srv/app", AppName: "../x", UnitDir: "/etc/systemd/system"})
	if rc != 1 || out != "result failed APP_NAME \"../x\": want lower-case letters, digits, _ and - (set APP_NAME)\n" {
		t.Fatalf("rc %d, %q", rc, out)
	}
}
