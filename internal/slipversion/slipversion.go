// Package slipversion is Slipway's own version and the version of the
// server layout it writes, and the `.slipway` stamp that records both on a
// server (DEPLOY_PATH/.slipway).
//
// A server without the stamp has layout 1: provisioned or deployed by a
// Slipway from before this file existed (v0.1.0). A client refuses a server
// whose layout is newer than Layout: it can't know what that layout means.
package slipversion

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Version is this Slipway's release, the top entry of CHANGELOG.md (a test
// checks it). Bump it with the CHANGELOG when tagging.
const Version = "v0.4.0"

// Layout is the server layout this Slipway writes and knows. 1 is the
// layout of v0.1.0 (no stamp); 2 added the stamp itself.
const Layout = 2

// File is the stamp's name under DEPLOY_PATH.
const File = ".slipway"

// Stamp is what a server's .slipway says: the layout and the Slipway that
// last changed the server.
type Stamp struct {
	Layout  int    // 1 when the server has no stamp
	Version string // "" when the server has no stamp
	// App is the APP_NAME whose folder DEPLOY_PATH is: another app is
	// refused there. "" in a stamp of v0.2.0 (no app line) or none.
	App string
}

// Current is the stamp this Slipway writes.
func Current() Stamp { return Stamp{Layout: Layout, Version: Version} }

// Unstamped is a server without the file: layout 1, from Slipway v0.1.0.
func Unstamped() Stamp { return Stamp{Layout: 1} }

// Bytes is the file's content: `layout N`, `slipway vX.Y.Z` and, with an
// App, `app NAME` lines (v0.2.0 skips the line it doesn't know).
func (s Stamp) Bytes() []byte {
	b := fmt.Sprintf("layout %d\nslipway %s\n", s.Layout, s.Version)
	if s.App != "" {
		b += "app " + s.App + "\n"
	}
	return []byte(b)
}

// CheckApp refuses DEPLOY_PATH stamped as another app's folder, in one line
// naming it and the setting to change. A stamp without an app line (v0.2.0)
// is anyone's.
func (s Stamp) CheckApp(host, app, deployPath string) error {
	if s.App == "" || s.App == app {
		return nil
	}
	return fmt.Errorf("%s: DEPLOY_PATH=%s is app %s's (its %s says so): set another DEPLOY_PATH for %s",
		host, deployPath, s.App, File, app)
}

// String is `slipway vX.Y.Z (layout N)`, or the layout alone when unstamped.
func (s Stamp) String() string {
	if s.Version == "" {
		return fmt.Sprintf("slipway v0.1.0 or older (layout %d, no %s)", s.Layout, File)
	}
	return fmt.Sprintf("slipway %s (layout %d)", s.Version, s.Layout)
}

// Parse reads a stamp. Unknown lines are skipped (a later layout may add
// some); a missing or bad layout line is an error.
func Parse(b []byte) (Stamp, error) {
	var s Stamp
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch key {
		case "layout":
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil || n < 1 {
				return Stamp{}, fmt.Errorf("%s: bad layout line %q", File, sc.Text())
			}
			s.Layout = n
		case "slipway":
			s.Version = strings.TrimSpace(val)
		case "app":
			s.App = strings.TrimSpace(val)
		}
	}
	if s.Layout == 0 {
		return Stamp{}, fmt.Errorf("%s has no layout line", File)
	}
	return s, nil
}

// Check refuses a server whose layout this Slipway doesn't know, in one
// line naming the version to use.
func (s Stamp) Check(host string) error {
	if s.Layout <= Layout {
		return nil
	}
	v := s.Version
	if v == "" {
		v = "latest"
	}
	return fmt.Errorf("%s's layout is version %d, written by Slipway %s: this is Slipway %s; upgrade: go get %s@%s",
		host, s.Layout, orUnknown(s.Version), Version, Module(), v)
}

// Module is Slipway's module path, read from this package's own import
// path (a renamed copy names itself, and no string spells the path).
func Module() string {
	return strings.TrimSuffix(reflect.TypeFor[Stamp]().PkgPath(), "/internal/slipversion")
}

func orUnknown(v string) string {
	if v == "" {
		return "(unknown)"
	}
	return v
}
