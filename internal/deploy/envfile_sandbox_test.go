package deploy

// systemd is the oracle of internal/envfile: every file of its corpus is
// loaded by a transient unit (EnvironmentFile=) on the sandbox, and the
// environment the unit's process gets must be what envfile.Parse reads.

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/psql"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// corpusDir holds the corpus and corpus.golden, systemd's readings that
// envfile's own tests check without a sandbox.
const corpusDir = "../envfile/testdata"

// systemdEnv is the environment a transient unit's process gets from an
// env file holding text, less what systemd sets itself (the names an
// empty env file gives); ok is false when systemd refuses the file (the
// unit doesn't start).
func systemdEnv(t *testing.T, sb *sandbox.Instance, text []byte, base map[string]string) (map[string]string, bool) {
	t.Helper()
	cmd := sb.Command(context.Background(), "sh", "-c", `f=$(mktemp /root/envcorpus.XXXXXX); cat > "$f"
systemd-run --pipe --wait --collect -p EnvironmentFile="$f" /usr/bin/env -0 < /dev/null; rc=$?
rm -f "$f"; exit $rc`)
	cmd.Stdin = bytes.NewReader(text)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		// What systemd says of a file it refuses (in the journal):
		// "Failed to load environment files: Invalid argument".
		if !strings.Contains(errb.String(), "Finished with result: resources") {
			t.Fatalf("systemd-run: %v: %s %q", err, errb.String(), out.String())
		}
		return nil, false
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		if _, own := base[k]; !own && k != "" {
			env[k] = v
		}
	}
	return env, true
}

// golden is one corpus file as systemd read it.
type golden struct {
	Refused bool              `json:"refused,omitempty"`
	Vars    map[string]string `json:"vars,omitempty"`
}

func TestEnvfileParseReadsTheCorpusAsSystemdDoes(t *testing.T) {
	sb := sandboxtest.Get(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "corpus", "*.env"))
	if err != nil || len(files) < 20 {
		t.Fatalf("corpus: %v %v", files, err)
	}
	base, ok := systemdEnv(t, sb, nil, nil)
	if !ok {
		t.Fatal("systemd refuses an empty env file")
	}
	readings := map[string]golden{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".env")
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		env, ok := systemdEnv(t, sb, text, base)
		readings[name] = golden{Refused: !ok, Vars: env}
		parsed, err := envfile.Parse(text)
		switch {
		case !ok && err == nil:
			t.Errorf("%s: systemd refuses the file, Parse reads it", name)
		case ok && err != nil:
			t.Errorf("%s: systemd reads the file, Parse refuses it: %v", name, err)
		case ok:
			got := map[string]string{}
			for _, v := range parsed.Vars() {
				got[v.Key] = v.Value
			}
			if !maps.Equal(got, env) {
				t.Errorf("%s: Parse reads\n%s\nsystemd:\n%s", name, show(got), show(env))
			}
		}
	}
	if os.Getenv("SLIPWAY_WRITE_GOLDEN") != "" {
		b, _ := json.MarshalIndent(readings, "", "  ")
		if err := os.WriteFile(filepath.Join(corpusDir, "corpus.golden"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(filepath.Join(corpusDir, "corpus.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, g := range readings {
		if w, ok := want[name]; !ok || w.Refused != g.Refused || !maps.Equal(w.Vars, g.Vars) {
			t.Errorf("%s: corpus.golden says %+v, systemd %+v: rerun with SLIPWAY_WRITE_GOLDEN=1", name, w, g)
		}
	}
}

func show(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString("  " + k + "=" + strconv.Quote(m[k]) + "\n")
	}
	return b.String()
}

// TestHandEditedEnvFileIsReadAsSystemdReadsIt performs the fault: an env
// file edited by hand on the server, in forms systemd reads (KEY = value,
// a quoted value continued over two lines, escapes inside quotes, a
// comment continued onto an assignment, CRLF). env:list, env:list
// -values, env:unset and a backup must all see what the app sees, the
// environment systemd gives a unit loading the file, and no value may
// reach a command line meanwhile.
func TestHandEditedEnvFileIsReadAsSystemdReadsIt(t *testing.T) {
	e := provisionedAs(t, envService("envh"))
	ctx := context.Background()
	dbURL, err := e.sb.DatabaseURL()
	if err != nil {
		t.Fatal(err)
	}
	pw := password(t, dbURL)
	at := strings.Index(dbURL, "?")
	text := "# edited by hand; the old setting is off \\\r\n" +
		"ENVH_OLD=1\r\n" +
		"DATABASE_URL = \"" + dbURL[:at] + "\\\n" + dbURL[at:] + "\"   \r\n" +
		"LOG_FORMAT = json\n" +
		`PASSWORD_PEPPER="pepper-with-\$dollar-\"quote\"-and-\\-0123456789"` + "\n" +
		"ENVH_NOTE=\"two\nlines\"\n"
	write(t, e, text)
	base, _ := systemdEnv(t, e.sb, nil, nil)
	app, ok := systemdEnv(t, e.sb, []byte(text), base)
	// CR LF after the comment's \ : the escape takes the CR, the LF ends
	// the comment, so ENVH_OLD is set.
	if want := []string{"DATABASE_URL", "ENVH_NOTE", "ENVH_OLD", "LOG_FORMAT", "PASSWORD_PEPPER"}; !ok || app["DATABASE_URL"] != dbURL ||
		!slices.Equal(slices.Sorted(maps.Keys(app)), want) {
		t.Fatalf("the test's file is not what it means to be to systemd: names %v, want %v", slices.Sorted(maps.Keys(app)), want)
	}
	c := sandboxtest.Dial(t, e.sb)
	control := "argv-control-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	stop := sandboxtest.WatchArgv(t, e.sb, pw, "-0123456789")
	stopControl := sandboxtest.WatchArgv(t, e.sb, control)
	sandboxtest.Run(t, e.sb, "sh", "-c", "sleep 0.5", control)
	var out bytes.Buffer
	o := e.options(&out, "")

	t.Run("env:list names what systemd sets", func(t *testing.T) {
		names, err := ListEnv(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range names[e.sb.Alias] {
			got = append(got, n.Name)
		}
		slices.Sort(got)
		if want := slices.Sorted(maps.Keys(app)); !slices.Equal(got, want) {
			t.Errorf("env:list names %v, systemd sets %v\n%s", got, want, out.String())
		}
	})

	t.Run("env:list -values shows the values systemd gives", func(t *testing.T) {
		out.Reset()
		yes := func(string) (bool, error) { return true, nil }
		if err := ListEnvValues(ctx, o, true, yes); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"PASSWORD_PEPPER", "DATABASE_URL"} {
			if want := k + "=" + envfile.Encode(app[k]); !strings.Contains(out.String(), want) {
				t.Errorf("env:list -values lacks %s as systemd reads it", k)
			}
		}
	})

	t.Run("env:unset removes a KEY = value line", func(t *testing.T) {
		out.Reset()
		res, err := SetEnv(ctx, o, envfile.Change{Key: "LOG_FORMAT", Unset: true}, false)
		if err != nil || len(res) != 1 || res[0].Outcome != EnvChanged {
			t.Fatalf("env:unset LOG_FORMAT: %+v %v\n%s", res, err, out.String())
		}
		after, ok := systemdEnv(t, e.sb, []byte(e.sh(t, "cat "+e.svc.EnvFile())+"\n"), base)
		want := maps.Clone(app)
		delete(want, "LOG_FORMAT")
		if !ok || !maps.Equal(after, want) {
			t.Errorf("after env:unset LOG_FORMAT systemd reads names %v, want %v (values equal: %v)", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(want)), maps.Equal(after, want))
		}
	})

	t.Run("a backup connects with the DATABASE_URL systemd reads", func(t *testing.T) {
		b := backup.Server{Alias: e.sb.Alias, R: c, C: e.svc}
		info, err := b.Take(ctx, backup.NewID(time.Now(), backup.KindManual), "", backup.KindManual, 1)
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if info.Size == 0 {
			t.Errorf("backup %+v: empty", info)
		}
	})

	t.Run("provision sees the DATABASE_URL systemd reads", func(t *testing.T) {
		var pout bytes.Buffer
		if _, err := service.Provision(ctx, c, e.svc, &pout); err != nil {
			t.Fatalf("provision: %v\n%s", err, pout.String())
		}
		if strings.Contains(pout.String(), "todo: set DATABASE_URL") {
			t.Errorf("provision asks for the DATABASE_URL the file sets:\n%s", pout.String())
		}
	})

	t.Run("an app's own database URL variable: provision, backups and psql read that name", func(t *testing.T) {
		own := e.svc
		own.DatabaseURL = "ENVH_DATABASE_URL"
		write(t, e, "ENVH_DATABASE_URL="+dbURL+"\n")
		defer write(t, e, text)
		for _, tc := range []struct {
			svc  service.Config
			todo bool
		}{{own, false}, {e.svc, true}} {
			var pout bytes.Buffer
			if _, err := service.Provision(ctx, c, tc.svc, &pout); err != nil {
				t.Fatalf("provision: %v\n%s", err, pout.String())
			}
			if got := strings.Contains(pout.String(), "todo: set "+tc.svc.DatabaseURLVar()+" in"); got != tc.todo {
				t.Errorf("provision for %s: todo line %v, want %v:\n%s", tc.svc.DatabaseURLVar(), got, tc.todo, pout.String())
			}
		}
		b := backup.Server{Alias: e.sb.Alias, R: c, C: own}
		if _, err := b.Take(ctx, backup.NewID(time.Now(), backup.KindManual), "", backup.KindManual, 1); err != nil {
			t.Errorf("backup reading ENVH_DATABASE_URL: %v", err)
		}
		var pout, perr bytes.Buffer
		if err := psql.Run(ctx, c, own, psql.Options{SQL: "SELECT 40 + 2"}, nil, &pout, &perr); err != nil || !strings.Contains(pout.String(), "42") {
			t.Errorf("psql reading ENVH_DATABASE_URL: %v\n%s%s", err, pout.String(), perr.String())
		}
	})

	t.Run("env:list says which lines set nothing", func(t *testing.T) {
		write(t, e, "export ENVH_X=1\n"+text)
		out.Reset()
		if _, err := ListEnv(ctx, o); err != nil || !strings.Contains(out.String(), "line 1 sets nothing: systemd reads `export NAME` as a name and drops it: remove `export `") {
			t.Errorf("%v\n%s", err, out.String())
		}
	})

	t.Run("a file systemd refuses is refused in one line naming the line, by env:* and backups", func(t *testing.T) {
		write(t, e, text+"ENVH_BAD=caf\xe9\n")
		if _, ok := systemdEnv(t, e.sb, []byte(text+"ENVH_BAD=caf\xe9\n"), base); ok {
			t.Fatal("systemd loads a file with invalid UTF-8: the test's premise is gone")
		}
		before := e.fileState(t)
		_, err := ListEnv(ctx, o)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "line 9: the value of ENVH_BAD is not valid UTF-8") {
			t.Errorf("env:list: %v", err)
		}
		_, err = SetEnv(ctx, o, envfile.Change{Key: "LOG_FORMAT", Value: "text"}, false)
		if err == nil || !strings.Contains(err.Error(), "line 9: the value of ENVH_BAD") {
			t.Errorf("env:set: %v", err)
		}
		b := backup.Server{Alias: e.sb.Alias, R: c, C: e.svc}
		_, err = b.Take(ctx, backup.NewID(time.Now(), backup.KindManual), "", backup.KindManual, 1)
		if err == nil || !strings.Contains(err.Error(), "systemd can't load "+e.svc.EnvFile()) {
			t.Errorf("backup: %v", err)
		}
		if after := e.fileState(t); after != before {
			t.Errorf("changed:\n%s\nthen:\n%s", before, after)
		}
	})

	if hits := stop(); len(hits) > 0 {
		t.Errorf("a secret reached a command line on the server: %v", hits)
	}
	if len(stopControl()) == 0 {
		t.Error("the argv watch never saw its control process: it proves nothing")
	}
}

// write puts text in e's env file, by stdin.
func write(t *testing.T, e sandboxEnv, text string) {
	t.Helper()
	if err := apptest.WriteEnv(context.Background(), e.sb, e.svc.EnvFile(), text); err != nil {
		t.Fatal(err)
	}
}
