package helper

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// GuardArgs are guard's: the names an app would take on the server. Units
// are the unit files about to be written (and the ones provision retires).
type GuardArgs struct {
	App     string   `json:"app"`
	User    string   `json:"user"`
	EnvDir  string   `json:"env_dir"`
	EnvFile string   `json:"env_file"`
	Units   []string `json:"units"`
}

func init() {
	Register("guard", true, func(ctx context.Context, e *Env, a GuardArgs) error {
		return guard(ctx, e, sshUser(e), a)
	})
}

// appName is service.Config's APP_NAME rule: every step that takes an app
// name checks it with this.
var appName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)

func (a GuardArgs) check() error {
	if !appName.MatchString(a.App) {
		return errors.New("APP_NAME " + a.App + " is not an app name (lower-case letters, digits, _ and -, up to 31): fix APP_NAME")
	}
	if err := checkAccount("APP_USER", a.User); err != nil {
		return err
	}
	if err := checkAbs("the env folder", a.EnvDir); err != nil {
		return err
	}
	if err := checkAbs("the env file", a.EnvFile); err != nil {
		return err
	}
	for _, u := range a.Units {
		if err := checkUnit(u); err != nil {
			return err
		}
	}
	return nil
}

// guard reports, one fact per line, what the server already has under the
// names the app would use; the client judges them (service.checkServer).
// It changes nothing. The lines:
//
//	unit <name> ours | unit <name> foreign <file>
//	envdir foreign
//	passwd <the account's /etc/passwd line>
//	groups <its groups, as id -Gn>
//	legacy                          (a unit of ours already runs as it)
//	sshuser <the SSH user>
//	socket <unit> <ListenStream>    (each Slipway socket on the server)
//	template <unit> <deploy path|-> <metrics address|->
func guard(ctx context.Context, e *Env, ssh string, a GuardArgs) error {
	if err := a.check(); err != nil {
		return err
	}
	if err := guardFacts(ctx, e, ssh, a); err != nil {
		return err
	}
	e.Result("ok", "")
	return nil
}

func guardFacts(ctx context.Context, e *Env, ssh string, a GuardArgs) error {
	for _, u := range a.Units {
		if owner, file, err := unitOwner(ctx, e, u); err != nil {
			return err
		} else if owner != "" {
			if file != "" {
				owner += " " + file
			}
			e.Line("unit", u+" "+owner)
		}
	}
	if fi, err := os.Stat(e.Path(a.EnvDir)); err == nil && fi.IsDir() && !exists(e.Path(a.EnvFile)) {
		if ents, _ := os.ReadDir(e.Path(a.EnvDir)); len(ents) > 0 {
			e.Line("envdir", "foreign")
		}
	}
	acc, err := lookupAccount(e, a.User)
	if err != nil {
		return err
	}
	if acc != nil {
		groups, err := groupsOf(e, acc)
		if err != nil {
			return err
		}
		e.Line("passwd", acc.line)
		e.Line("groups", strings.Join(groups, " "))
		// An account a unit of ours already runs as was made by an older
		// Slipway, before accounts were marked.
		for _, u := range []string{a.App + ".service", a.App + "@.service"} {
			lines, ours := ourUnit(e.Path(path.Join(UnitDir, u)))
			if ours && contains(lines, "User="+a.User) {
				e.Line("legacy", "")
				break
			}
		}
	}
	e.Line("sshuser", ssh)
	// The server's other Slipway apps: each socket's ListenStream, each
	// template's deploy path (from its ExecStart) and metrics address.
	for _, f := range globUnits(e, "*.socket") {
		lines, ours := ourUnit(f)
		if !ours {
			continue
		}
		e.Line("socket", filepath.Base(f)+" "+firstValue(lines, "ListenStream="))
	}
	for _, f := range globUnits(e, "*@.service") {
		lines, ours := ourUnit(f)
		if !ours {
			continue
		}
		d, m := "-", "-"
		for _, l := range lines {
			if p, ok := templateDeployPath(l); ok {
				d = p
				break
			}
		}
		if v := firstValue(lines, "Environment=METRICS_ADDR="); v != "" {
			m = v
		}
		e.Line("template", filepath.Base(f)+" "+d+" "+m)
	}
	return nil
}

// unitOwner says whose unit u is: "ours" (a file in UnitDir that Slipway
// wrote), "foreign" and the file that holds it (a file without the
// marker, a link, or a unit elsewhere that a file in UnitDir would
// override), or "" (no such unit).
func unitOwner(ctx context.Context, e *Env, u string) (owner, file string, err error) {
	f := path.Join(UnitDir, u)
	fi, err := os.Lstat(e.Path(f))
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		target, err := filepath.EvalSymlinks(e.Path(f))
		if err != nil {
			target, _ = os.Readlink(e.Path(f))
		}
		return "foreign", unroot(e, target), nil
	case err == nil:
		if _, ours := ourUnit(e.Path(f)); ours {
			return "ours", "", nil
		}
		return "foreign", f, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", err
	}
	p, err := e.Sys.Show(ctx, u, "FragmentPath")
	if err != nil {
		return "", "", nil // systemctl knows no such unit
	}
	if frag := p["FragmentPath"]; frag != "" {
		return "foreign", frag, nil
	}
	return "", "", nil
}

// unroot is p as seen on the server (without e.Root).
func unroot(e *Env, p string) string {
	if e.Root == "" || e.Root == "/" {
		return p
	}
	if rest, ok := strings.CutPrefix(p, strings.TrimSuffix(e.Root, "/")); ok && strings.HasPrefix(rest, "/") {
		return rest
	}
	return p
}

// ourUnit returns the lines of the unit file f (a regular file, links
// followed) and whether its first line carries UnitMarker.
func ourUnit(f string) ([]string, bool) {
	fi, err := os.Stat(f)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	file, err := os.Open(f)
	if err != nil {
		return nil, false
	}
	defer file.Close()
	var lines []string
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, len(lines) > 0 && strings.Contains(lines[0], UnitMarker)
}

func globUnits(e *Env, pattern string) []string {
	files, _ := filepath.Glob(filepath.Join(e.Path(UnitDir), pattern))
	sort.Strings(files)
	return files
}

func firstValue(lines []string, prefix string) string {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
