package slipversion

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The version a release is tagged with is the top entry of CHANGELOG.md:
// bumping one without the other fails here.
func TestVersionIsTheChangelogsTopEntry(t *testing.T) {
	b, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^## (v\d+\.\d+\.\d+\S*)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("CHANGELOG.md has no `## vX.Y.Z` entry")
	}
	if string(m[1]) != Version {
		t.Errorf("CHANGELOG.md's top entry is %s, slipversion.Version is %s: bump them together", m[1], Version)
	}
}

func TestStampRoundTripsAndUnknownLinesAreSkipped(t *testing.T) {
	got, err := Parse(append(Current().Bytes(), "future thing\n"...))
	if err != nil || got != Current() {
		t.Fatalf("Parse(Current) = %+v, %v; want %+v", got, err, Current())
	}
	if _, err := Parse([]byte("slipway v9.0.0\n")); err == nil {
		t.Error("a stamp without a layout line parsed")
	}
	if got := Current().String(); got != "slipway "+Version+" (layout 2)" {
		t.Errorf("String = %q", got)
	}
}

// A server stamped one layout ahead is refused in one line naming the
// Slipway that wrote it; its own layout and older pass.
func TestCheckRefusesALayoutAheadInOneLine(t *testing.T) {
	ahead := Stamp{Layout: Layout + 1, Version: "v9.9.9"}
	err := ahead.Check("web1")
	if err == nil {
		t.Fatal("a newer layout passed")
	}
	want := "web1's layout is version " + strconv.Itoa(Layout+1) + ", written by Slipway v9.9.9: this is Slipway " + Version + "; upgrade: go get " + Module() + "@v9.9.9"
	if err.Error() != want || strings.Contains(err.Error(), "\n") {
		t.Errorf("got  %q\nwant %q", err, want)
	}
	for _, s := range []Stamp{Current(), Unstamped()} {
		if err := s.Check("web1"); err != nil {
			t.Errorf("%v refused: %v", s, err)
		}
	}
}

// The upgrade line names this module as go.mod does.
func TestModuleIsGoModsModule(t *testing.T) {
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module (\S+)`).FindSubmatch(b)
	if m == nil || string(m[1]) != Module() {
		t.Errorf("Module() = %s, go.mod says %s", Module(), m)
	}
}

// The stamp names its app; a stamp of v0.2.0 (no app line) is anyone's,
// another app's is refused naming it and DEPLOY_PATH.
func TestStampNamesItsApp(t *testing.T) {
	st := Current()
	st.App = "shop"
	got, err := Parse(st.Bytes())
	if err != nil || got != st {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, st)
	}
	old, _ := Parse([]byte("layout 2\nslipway v0.2.0\n"))
	if err := old.CheckApp("h", "blog", "/home/admin"); err != nil {
		t.Errorf("a v0.2.0 stamp refused: %v", err)
	}
	err = got.CheckApp("h", "blog", "/srv/shop")
	if err == nil || err.Error() != "h: DEPLOY_PATH=/srv/shop is app shop's (its .slipway says so): set another DEPLOY_PATH for blog" {
		t.Errorf("CheckApp = %v", err)
	}
}
