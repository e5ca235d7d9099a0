package envfile

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// golden is one corpus file as systemd 252 read it on the sandbox
// (recorded by TestEnvfileParseReadsTheCorpusAsSystemdDoes in
// internal/deploy, which compares Parse with systemd itself).
type golden struct {
	Refused bool              `json:"refused,omitempty"`
	Vars    map[string]string `json:"vars,omitempty"`
}

// corpus is every file of testdata/corpus with systemd's reading of it.
func corpus(t *testing.T) map[string]golden {
	t.Helper()
	b, err := os.ReadFile("testdata/corpus.golden")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/corpus/*.env")
	if len(files) != len(want) || len(files) < 20 {
		t.Fatalf("%d corpus files, %d golden readings", len(files), len(want))
	}
	return want
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/corpus", name+".env"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vars(f *File) map[string]string {
	m := map[string]string{}
	for _, v := range f.Vars() {
		m[v.Key] = v.Value
	}
	return m
}

func TestParseReadsTheCorpusAsSystemdDid(t *testing.T) {
	for name, want := range corpus(t) {
		f, err := Parse(read(t, name))
		switch {
		case want.Refused && err == nil:
			t.Errorf("%s: systemd refused the file, Parse reads %v", name, vars(f))
		case want.Refused:
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "line ") {
				t.Errorf("%s: want one line naming the line, got %q", name, err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case !maps.Equal(vars(f), want.Vars):
			t.Errorf("%s: Parse reads %q, systemd read %q", name, vars(f), want.Vars)
		}
	}
}

func TestParseRefusesWhatSystemdRefusesNamingTheLine(t *testing.T) {
	for text, want := range map[string]string{
		"A=1\nB=caf\xe9\n":    "line 2: the value of B is not valid UTF-8",
		"A=1\n\nK\xffY=x\n":   "line 3: the name is not valid UTF-8",
		"A=1\nB=\"x\ny\xff\"": "line 2: the value of B",
		"A=1\nB=x\x00y\n":     "line 2 holds a NUL byte",
	} {
		_, err := Parse([]byte(text))
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line starting %q", text, err, want)
		}
	}
}

func TestParseSaysWhichLinesSetNothingAndWhy(t *testing.T) {
	f, err := Parse(read(t, "export"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Skipped) != 2 || f.Skipped[0].Line != 1 || f.Skipped[1].Line != 2 || !strings.Contains(f.Skipped[0].Reason, "remove `export `") {
		t.Errorf("skipped %+v", f.Skipped)
	}
	f, _ = Parse([]byte("A=1\nmy s3cret\n2X=s3cret\n"))
	if len(f.Skipped) != 2 || f.Skipped[0].Line != 2 || f.Skipped[1].Line != 3 {
		t.Errorf("skipped %+v", f.Skipped)
	}
	for _, s := range f.Skipped {
		if strings.Contains(s.Reason, "s3cret") {
			t.Errorf("a reason quotes the line: %s", s.Reason)
		}
	}
}

// TestApplyChangesOnlyTheKeyOnEveryCorpusFile sets and unsets every name
// of every corpus file systemd reads, and a new one: read back, each file
// gives the same environment but for that name.
func TestApplyChangesOnlyTheKeyOnEveryCorpusFile(t *testing.T) {
	nasty := ` a "b" \c $HOME ` + "`x`" + ` 'q' #h ;x `
	for name, g := range corpus(t) {
		if g.Refused {
			continue
		}
		f, err := Parse(read(t, name))
		if err != nil {
			t.Fatal(err)
		}
		keys := append(slices.Sorted(maps.Keys(g.Vars)), "NEW_KEY")
		for _, k := range keys {
			for _, ch := range []Change{{Key: k, Value: nasty}, {Key: k, Value: ""}, {Key: k, Unset: true}} {
				text, changed, err := f.Apply(ch)
				if name == "unterminated-quote" && k == "NEW_KEY" && !ch.Unset {
					if err == nil || !strings.Contains(err.Error(), "quote opened on line 2 is never closed") {
						t.Errorf("%s: appending after an open quote: %v", name, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s %+v: %v", name, ch, err)
					continue
				}
				want := maps.Clone(g.Vars)
				if ch.Unset {
					delete(want, k)
				} else {
					want[k] = ch.Value
				}
				after, err := Parse(text)
				if err != nil || !maps.Equal(vars(after), want) {
					t.Errorf("%s %+v: reads back %q %v, want %q", name, ch, vars(after), err, want)
				}
				if changed == maps.Equal(g.Vars, want) {
					t.Errorf("%s %+v: changed %v", name, ch, changed)
				}
			}
		}
	}
}

func TestApplyEditsInPlaceAndKeepsTheRestByteForByte(t *testing.T) {
	text := "# top\r\n  LOG_FORMAT = json   # hand\nA=1\nLOG_FORMAT=\"x\\\ny\"\nB='2'"
	f, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	got, changed, err := f.Apply(Change{Key: "LOG_FORMAT", Value: "text"})
	if want := "# top\r\n  LOG_FORMAT=text\nA=1\nB='2'"; err != nil || !changed || string(got) != want {
		t.Errorf("set: %q %v, want %q", got, err, want)
	}
	got, _, _ = f.Apply(Change{Key: "NEW", Value: "v"})
	if want := text + "\nNEW=v\n"; string(got) != want {
		t.Errorf("new key: %q, want %q", got, want)
	}
	got, _, _ = f.Apply(Change{Key: "LOG_FORMAT", Unset: true})
	if want := "# top\r\n  A=1\nB='2'"; string(got) != want {
		t.Errorf("unset: %q, want %q", got, want)
	}
	// A comment ending in \ swallows the next line (systemd 252): the new
	// line goes after a blank one.
	f, _ = Parse([]byte("A=1\n# note \\\n"))
	got, _, err = f.Apply(Change{Key: "B", Value: "2"})
	if after, _ := Parse(got); err != nil || vars(after)["B"] != "2" {
		t.Errorf("after a continued comment: %q %v", got, err)
	}
}

func FuzzEncodeReadsBack(f *testing.F) {
	for _, s := range []string{"", "plain", " lead", "trail ", `"q"`, `\`, `\\n`, "$HOME ${X}", "`id`", "'", "#c", ";c", "a\tb", "é日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if (Change{Key: "MY_OWN", Value: v}).Validate(true) != nil {
			return
		}
		p, err := Parse([]byte("MY_OWN=" + Encode(v) + "\n"))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got, _ := p.Lookup("MY_OWN"); got != v {
			t.Fatalf("%q encodes as %s, reads back as %q", v, Encode(v), got)
		}
	})
}

// FuzzApplyReadsBack: on any file Parse reads, a set or unset gives the
// same environment but for the key, or refuses (an open quote at the end).
func FuzzApplyReadsBack(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.env")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b, "A", "x y")
	}
	f.Fuzz(func(t *testing.T, text []byte, key, value string) {
		p, err := Parse(text)
		ch := Change{Key: key, Value: value}
		if err != nil || !validName(key) || ch.Validate(true) != nil {
			return
		}
		for _, ch := range []Change{ch, {Key: key, Unset: true}} {
			out, _, err := p.Apply(ch)
			if err != nil {
				if !strings.Contains(err.Error(), "never closed") {
					t.Fatalf("%q %+v: %v", text, ch, err)
				}
				continue
			}
			after, err := Parse(out)
			if err != nil {
				t.Fatalf("%q %+v: %v", text, ch, err)
			}
			if v, ok := after.Lookup(key); ch.Unset == ok || !ch.Unset && v != value {
				t.Fatalf("%q %+v: reads back %q %v", text, ch, v, ok)
			}
		}
	})
}
