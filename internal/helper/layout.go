package helper

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StampFile is the layout stamp in DEPLOY_PATH (slipversion.File).
const StampFile = ".slipway"

// InstalledMark starts layout-read's line about the installed units.
const InstalledMark = "installed-at "

func init() {
	Register("layout-read", false, layoutReadStep)
	Register("layout-write", false, layoutWriteStep)
}

// LayoutArgs name the app whose layout is read.
type LayoutArgs struct {
	DeployPath string `json:"deploy_path"`
	AppName    string `json:"app_name"`
	// UnitDir is where the app's units are (service.UnitDir).
	UnitDir string `json:"unit_dir"`
}

// layoutReadStep prints DEPLOY_PATH/.slipway (nothing when there is none:
// a server of layout 1), then, when the app's units are installed, a line
// "installed-at <deploy path> <socket address>" ("-" for either unknown)
// after an empty line.
func layoutReadStep(_ context.Context, e *Env, a LayoutArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	if !appName.MatchString(a.AppName) {
		return fmt.Errorf("APP_NAME %q: want lower-case letters, digits, _ and - (set APP_NAME)", a.AppName)
	}
	if err := checkPath("unit dir", a.UnitDir); err != nil {
		return err
	}
	if b, err := os.ReadFile(e.Path(a.DeployPath + "/" + StampFile)); err == nil {
		_, _ = e.Out.Write(b)
	}
	unit, err := os.ReadFile(e.Path(a.UnitDir + "/" + a.AppName + "@.service"))
	if err != nil {
		return nil
	}
	at := firstMatch(unit, templateDeployPath)
	socket, _ := os.ReadFile(e.Path(a.UnitDir + "/" + a.AppName + ".socket"))
	listen := firstMatch(socket, func(l string) (string, bool) { return strings.CutPrefix(l, "ListenStream=") })
	fmt.Fprintf(e.Out, "\n%s%s %s\n", InstalledMark, orDash(at), orDash(listen))
	return nil
}

// firstMatch is f of the first line of text it takes.
func firstMatch(text []byte, f func(string) (string, bool)) string {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		if v, ok := f(sc.Text()); ok {
			return v
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// LayoutWriteArgs are the stamp to write.
type LayoutWriteArgs struct {
	DeployPath string `json:"deploy_path"`
	Stamp      string `json:"stamp"`
}

// layoutWriteStep writes DEPLOY_PATH/.slipway atomically (a file beside
// it, then a rename) and leaves an identical one untouched: "result ok
// changed" or "result ok unchanged".
func layoutWriteStep(_ context.Context, e *Env, a LayoutWriteArgs) error {
	if err := checkDeployPath(a.DeployPath); err != nil {
		return err
	}
	dp := e.Path(a.DeployPath)
	if err := os.MkdirAll(dp, 0o777); err != nil {
		return err
	}
	f := filepath.Join(dp, StampFile)
	if old, err := os.ReadFile(f); err == nil && string(old) == a.Stamp {
		e.Result("ok", "unchanged")
		return nil
	}
	tmp := filepath.Join(dp, "."+StampFile+"."+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(tmp, []byte(a.Stamp), 0o666); err != nil {
		return err
	}
	if err := os.Rename(tmp, f); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	e.Result("ok", "changed")
	return nil
}
