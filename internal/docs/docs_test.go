package docs

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/slipway-dev/slipway/internal/admin"
	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/config"
	"github.com/slipway-dev/slipway/internal/deploy"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/sandbox"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/web"
)

// The conventions the docs follow, so a test can read them:
//   - a target is listed in a table whose header's first cell is "target",
//     its name first in the backticked cell: | `deploy [-dryRun]` | ... |
//   - a command is written `go run mage.go <target> [flags]`;
//   - an environment variable is written in backticks; a table whose header's
//     first cell is "variable" lists settings in its first column. Any
//     backticked ALL_CAPS name with an underscore (`DEPLOY_HOST`,
//     `DEPLOY_HOST=web-1`) is presented as a setting too.

// external are variables the docs name that Slipway's code doesn't read, and why.
var external = map[string]string{
	"CGO_ENABLED":       "buildApp sets it for the go command, it doesn't read it",
	"GOFLAGS":           "buildApp replaces it for the go command",
	"GOAMD64":           "buildApp fixes it for the go command",
	"GOARM64":           "buildApp fixes it for the go command",
	"GOOS":              "buildApp sets it for the go command",
	"ON_ERROR_STOP":     "a psql variable: psql -v sets it on the server",
	"PSQL_HISTORY":      "psql's launch.pl sets it for psql on the server",
	"SHOP_DATABASE_URL": "docs/adopt.md's example app's own variable, named by its targets.Project",
	"XDG_CACHE_HOME":    "os.UserCacheDir reads it for the helper's cache (internal/helper/client)",
}

// dynamic are the calls that read a variable whose name is data, not code,
// keyed by file and function.
var dynamic = map[string]string{
	"internal/remote/resolve.go:parseG": "IdentityAgent $NAME in the user's ssh config names the variable",
	"internal/config/config.go:Load":    "the app names its database URL's variable (app.Config.DatabaseURL, DATABASE_URL by default)",
	"targets/project.go:getenv":         "the app's database URL variable is the project's (targets.Project.DatabaseURL)",
}

func TestEveryTargetIsDocumentedAndEveryDocumentedTargetExists(t *testing.T) {
	root := repoRoot(t)
	targets := mageTargets(t, root)
	docs := readDocs(t, root)

	tabled := map[string]bool{}
	for _, d := range docs {
		for _, row := range tableRows(d.text, "target") {
			for _, span := range backticked(row[0]) {
				u := parseUse(strings.Fields(span))
				tabled[u.target] = true
				if _, ok := targets[u.target]; !ok {
					t.Errorf("%s: targets table lists %q, which `go run mage.go -l` doesn't: rename or remove the row", d.name, u.target)
					continue
				}
				checkFlags(t, d.name, "`"+span+"`", u, targets)
			}
		}
		for _, u := range commands(d.text) {
			if _, ok := targets[u.target]; !ok {
				t.Errorf("%s: `go run mage.go %s`: no such target in `go run mage.go -l`", d.name, u.target)
				continue
			}
			checkFlags(t, d.name, "`go run mage.go "+u.target+"`", u, targets)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		if !tabled[name] {
			t.Errorf("target %s is in `go run mage.go -l` but in no targets table of README.md or docs/*.md: add a row", name)
		}
	}
}

func checkFlags(t *testing.T, where, what string, u use, targets map[string]map[string]bool) {
	t.Helper()
	for _, f := range u.flags {
		if !targets[u.target][f] {
			t.Errorf("%s: %s with -%s: %s has no such flag (it has %v)", where, what, f, u.target, slices.Sorted(maps.Keys(targets[u.target])))
		}
	}
}

func TestEveryEnvironmentVariableIsDocumentedAndEveryDocumentedOneIsRead(t *testing.T) {
	root := repoRoot(t)
	read := envReads(t, root)
	docs := readDocs(t, root)

	named := map[string]bool{}      // every ALL_CAPS name in backticks
	settings := map[string]string{} // presented as a setting -> where
	for _, d := range docs {
		for _, span := range backticked(d.text) {
			for _, w := range allCaps.FindAllString(span, -1) {
				named[w] = true
				if strings.Contains(w, "_") {
					settings[w] = d.name
				}
			}
		}
		for _, row := range tableRows(d.text, "variable") {
			for _, span := range backticked(row[0]) {
				for _, w := range allCaps.FindAllString(span, -1) {
					settings[w] = d.name
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(read)) {
		where := read[name]
		if !named[name] {
			t.Errorf("%s reads %s, which no doc names in backticks: document it (README.md or docs/*.md)", where, name)
		}
		if why, ok := external[name]; ok {
			t.Errorf("%s reads %s, listed as external (%s): drop it from the external list", where, name, why)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		where := settings[name]
		if _, ok := read[name]; ok {
			continue
		}
		if _, ok := external[name]; ok {
			continue
		}
		t.Errorf("%s presents %s as a setting, but no code reads it: fix the name or remove it (or list it in external with the reason)", where, name)
	}
	for _, name := range slices.Sorted(maps.Keys(external)) {
		if !named[name] {
			t.Errorf("external variable %s is no longer named in the docs: drop it from the list", name)
		}
	}
}

// TestSettingsTablesShowTheCodesDefaults compares the default column of every
// settings table with the value the code starts from.
func TestSettingsTablesShowTheCodesDefaults(t *testing.T) {
	defaults := map[string]string{
		"DEPLOY_HOST":          deploy.DefaultHost,
		"DEPLOY_READY_TIMEOUT": short(deploy.DefaultReadyTimeout),
		"DEPLOY_KEEP":          strconv.Itoa(deploy.DefaultKeep),
		"DEPLOY_KEEP_BACKUPS":  strconv.Itoa(backup.DefaultKeep),
		"SANDBOX_NAME":         sandbox.DefaultName,
		"SANDBOX_DIR":          sandbox.DefaultStateDir,
		"SANDBOX_CACHE_DIR":    sandbox.DefaultCacheDir,
	}
	for _, v := range config.Vars {
		defaults[v.Name] = cmp.Or(v.Default, "required")
	}
	defaults["ACME_CA"] = frontdoor.LetsEncrypt
	c := service.DefaultConfig()
	defaults["APP_NAME"] = c.AppName
	defaults["DEPLOY_PATH"] = c.DeployPath
	defaults["APP_LISTEN"] = c.ListenAddr
	defaults["APP_START_TIMEOUT"] = short(c.StartTimeout)

	seen := map[string]bool{}
	for _, d := range readDocs(t, repoRoot(t)) {
		for _, row := range tableRows(d.text, "variable", "default") {
			names := allCaps.FindAllString(row[0], -1)
			if len(names) != 1 || len(row) < 2 {
				continue
			}
			want, ok := defaults[names[0]]
			if !ok {
				continue
			}
			seen[names[0]] = true
			if !strings.Contains(row[1], want) {
				t.Errorf("%s: %s's default is %q in the code, the table says %q", d.name, names[0], want, strings.TrimSpace(row[1]))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		if !seen[name] {
			t.Errorf("%s has no row in a settings table with a default column", name)
		}
	}
}

// TestValuesTheDocsQuoteMatchTheCode: where a doc states a value for the
// reader's convenience next to the constant that owns it, the two agree.
func TestValuesTheDocsQuoteMatchTheCode(t *testing.T) {
	svc := service.DefaultConfig()
	quotes := map[string][]string{
		"docs/admin.md": {
			fmt.Sprintf("`password.MinLength` (%d)", password.MinLength),
			fmt.Sprintf("%d MiB, %d passes, %d lanes", password.Default.Memory/1024, password.Default.Time, password.Default.Threads),
			fmt.Sprintf("%g hours", admin.DefaultSession.Hours()),
			fmt.Sprintf("`admin.Window` (%g minutes)", admin.Window.Minutes()),
			fmt.Sprintf("`admin.MaxPerEmail` (%d)", admin.MaxPerEmail),
			fmt.Sprintf("`admin.MaxPerIP` (%d)", admin.MaxPerIP),
			fmt.Sprintf("`admin.MaxPerAccount` (%d)", admin.MaxPerAccount),
			fmt.Sprintf("`admin.DefaultHashWait` (%g s)", admin.DefaultHashWait.Seconds()),
			fmt.Sprintf("`admin.MaxFormBytes` (%d KiB)", admin.MaxFormBytes>>10),
			fmt.Sprintf("`admin.PruneEvery` (%g minutes)", admin.PruneEvery.Minutes()),
			fmt.Sprintf("`admin.FailureRetention` (%g hours", admin.FailureRetention.Hours()),
			fmt.Sprintf("`LOGIN_HASH_CONCURRENCY` (default %d, so %d MiB)", config.DefaultLoginHashConcurrency, config.DefaultLoginHashConcurrency*admin.HashMemory>>20),
		},
		"docs/app.md": {
			fmt.Sprintf("`web.ReadHeaderTimeout` (%g s)", web.ReadHeaderTimeout.Seconds()),
			fmt.Sprintf("`web.ReadTimeout` (%g s", web.ReadTimeout.Seconds()),
			fmt.Sprintf("`web.WriteTimeout` (%g s)", web.WriteTimeout.Seconds()),
			fmt.Sprintf("`web.IdleTimeout` (%g s)", web.IdleTimeout.Seconds()),
			fmt.Sprintf("`web.MaxHeaderBytes` (%d KiB", web.MaxHeaderBytes>>10),
		},
		"docs/https.md": {
			fmt.Sprintf("`frontdoor.DefaultWait` (%g minutes)", frontdoor.DefaultWait.Minutes()),
			fmt.Sprintf("Strict-Transport-Security %q", frontdoor.HSTS),
			"admin unix/" + frontdoor.AdminSocket,
		},
		"docs/server.md": {
			fmt.Sprintf("`TimeoutStopSec` (%g s in", svc.StopTimeout.Seconds()),
			fmt.Sprintf("`MemoryMax=$APP_MEMORY_MAX` (%s)", svc.MemoryMax),
		},
	}
	root := repoRoot(t)
	for file, want := range quotes {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s should say %q, as the code does: update the value", file, w)
			}
		}
	}
}

// TestEveryLintRuleIsDocumented: the rules table in docs/migrations.md lists
// exactly the rule names internal/lint declares (its rule* constants).
func TestEveryLintRuleIsDocumented(t *testing.T) {
	root := repoRoot(t)
	rules := map[string]bool{}
	for path, f := range goFiles(t, root) {
		if filepath.Dir(path) != "internal/lint" {
			continue
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if strings.HasPrefix(n.Name, "rule") && i < len(vs.Values) {
						if v, ok := stringLit(vs.Values[i]); ok {
							rules[v] = true
						}
					}
				}
			}
		}
	}
	if len(rules) == 0 {
		t.Fatal("no rule* string constants in internal/lint: teach this test where the rule names live now")
	}
	documented := map[string]bool{}
	for _, d := range readDocs(t, root) {
		for _, row := range tableRows(d.text, "rule") {
			for _, span := range backticked(row[0]) {
				documented[span] = true
				if !rules[span] {
					t.Errorf("%s documents lint rule %q, which internal/lint doesn't have", d.name, span)
				}
			}
		}
	}
	for _, r := range slices.Sorted(maps.Keys(rules)) {
		if !documented[r] {
			t.Errorf("lint rule %s has no row in the rules table of docs/migrations.md", r)
		}
	}
}

// short spells a duration as the docs do: 2m, not 2m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func TestTheCodeMapNamesEveryPackageAndTheDocsPointAtCodeThatExists(t *testing.T) {
	root := repoRoot(t)
	docs := readDocs(t, root)
	pkgs := internalPackages(t, root)

	readme := ""
	for _, d := range docs {
		if d.name == "docs/code.md" {
			readme = d.text
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(pkgs)) {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(dir) + `\b[^/]`).MatchString(readme + "\n") {
			t.Errorf("docs/code.md's code map doesn't name %s: add a line", dir)
		}
	}

	anchors := headingAnchors(docs)
	byName := map[string]map[string]bool{} // package name -> exported identifiers
	for dir, names := range pkgs {
		byName[filepath.Base(dir)] = names
	}
	for _, d := range docs {
		for _, p := range internalPath.FindAllString(d.text, -1) {
			p = strings.TrimRight(p, "/.")
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s names %s, which doesn't exist", d.name, p)
			}
		}
		for _, span := range backticked(d.text) {
			m := qualified.FindStringSubmatch(span)
			if m == nil {
				continue
			}
			if names, ok := byName[m[1]]; ok && !names[m[2]] {
				t.Errorf("%s names `%s.%s`: package %s declares no %s", d.name, m[1], m[2], m[1], m[2])
			}
		}
		for _, m := range link.FindAllStringSubmatch(d.text, -1) {
			if strings.Contains(m[1], "://") || strings.HasPrefix(m[1], "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(m[1], "#")
			path := filepath.Join(filepath.Dir(d.name), file)
			if _, err := os.Stat(filepath.Join(root, path)); err != nil {
				t.Errorf("%s links to %s, which doesn't exist", d.name, m[1])
				continue
			}
			if anchor == "" {
				continue
			}
			if file == "" {
				path = d.name
			}
			if a, ok := anchors[filepath.ToSlash(path)]; !ok || !a[anchor] {
				t.Errorf("%s links to %s: %s has no heading with that anchor", d.name, m[1], path)
			}
		}
	}
}

// headingAnchors maps each doc to the anchors GitHub gives its headings:
// lower case, punctuation dropped, spaces as dashes.
func headingAnchors(docs []doc) map[string]map[string]bool {
	anchors := map[string]map[string]bool{}
	for _, d := range docs {
		a := map[string]bool{}
		for line := range strings.SplitSeq(fence.ReplaceAllString(d.text, ""), "\n") {
			title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
			if !ok || !strings.HasPrefix(line, "#") {
				continue
			}
			var b strings.Builder
			for _, r := range strings.ToLower(strings.TrimSpace(title)) {
				switch {
				case r == ' ':
					b.WriteRune('-')
				case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
					b.WriteRune(r)
				}
			}
			a[b.String()] = true
		}
		anchors[d.name] = a
	}
	return anchors
}

var (
	allCaps      = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*\b`)
	internalPath = regexp.MustCompile(`\binternal/[a-z0-9_]+(?:/[a-zA-Z0-9_.]+)*`)
	qualified    = regexp.MustCompile(`^([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9]*)$`)
	link         = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	command      = regexp.MustCompile(`go run mage\.go((?:[ \t]+[^\s` + "`" + `]+)+)`)
	targetName   = regexp.MustCompile(`^[a-z][A-Za-z0-9]*(?::[a-z][A-Za-z0-9]*)?$`)
	fence        = regexp.MustCompile("(?s)```[^\n]*\n(.*?)```")
	inline       = regexp.MustCompile("`([^`\n]+)`")
)

type doc struct{ name, text string }

// readDocs reads README.md and docs/*.md, paths relative to root.
func readDocs(t *testing.T, root string) []doc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var docs []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		docs = append(docs, doc{rel, string(b)})
	}
	return docs
}

// backticked returns the contents of fenced code blocks and inline code spans.
func backticked(text string) []string {
	var spans []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		spans = append(spans, m[1])
	}
	for _, m := range inline.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// tableRows returns the cells of the body rows of every table whose header
// starts with the cells header.
func tableRows(text string, header ...string) [][]string {
	var rows [][]string
	in := false
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.TrimSpace(cells[0])
		switch {
		case isHeader(cells, header):
			in = true
		case strings.HasPrefix(first, "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	return rows
}

func isHeader(cells, header []string) bool {
	if len(cells) < len(header) {
		return false
	}
	for i, h := range header {
		if strings.TrimSpace(cells[i]) != h {
			return false
		}
	}
	return true
}

// use is a target as the docs write it, with the flags they give it.
type use struct {
	target string
	flags  []string
}

// parseUse reads `target [-flag VALUE] [-flag=value] ARG`.
func parseUse(words []string) use {
	u := use{target: words[0]}
	for _, w := range words[1:] {
		if w == "--" { // what follows is the app's (exec -- ARGS), not the target's flags
			break
		}
		w = strings.Trim(w, "[]")
		if name, ok := strings.CutPrefix(w, "-"); ok {
			name, _, _ = strings.Cut(name, "=")
			u.flags = append(u.flags, name)
		}
	}
	return u
}

// commands returns every `go run mage.go [mage flags] <target> [flags]` in text.
func commands(text string) []use {
	var uses []use
	for _, span := range backticked(text) {
		for _, m := range command.FindAllStringSubmatch(span, -1) {
			words := strings.Fields(m[1])
			for len(words) > 0 && strings.HasPrefix(words[0], "-") { // mage's own flags: -v, -l
				words = words[1:]
			}
			if len(words) == 0 || !targetName.MatchString(words[0]) {
				continue
			}
			for i, w := range words {
				if strings.ContainsAny(w[:1], "#;|&>") { // a shell comment or operator ends the command
					words = words[:i]
					break
				}
			}
			uses = append(uses, parseUse(words))
		}
	}
	return uses
}

// mageTargets asks mage itself for the targets (the list a user sees is the
// one to document) and reads each one's flags from magefile.go: mage makes
// an optional -flag of every pointer parameter.
func mageTargets(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "run", "mage.go", "-l")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run mage.go -l: %v\n%s", err, out)
	}
	_, list, ok := strings.Cut(string(out), "Targets:\n")
	if !ok {
		t.Fatalf("go run mage.go -l printed no Targets: list:\n%s", out)
	}
	var names []string
	for line := range strings.SplitSeq(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  ") {
			names = append(names, strings.TrimSuffix(f[0], "*"))
		}
	}
	if len(names) == 0 {
		t.Fatalf("go run mage.go -l listed no targets:\n%s", out)
	}

	// The targets are declared in magefile.go (this repository's own) and
	// in the targets package it imports (//mage:import, no namespace).
	paths := []string{filepath.Join(root, "magefile.go")}
	tfiles, err := filepath.Glob(filepath.Join(root, "targets", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tfiles {
		if !strings.HasSuffix(p, "_test.go") {
			paths = append(paths, p)
		}
	}
	flags := map[string]map[string]bool{}
	for _, path := range paths {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			name := lowerFirst(fd.Name.Name)
			if fd.Recv != nil {
				id, ok := fd.Recv.List[0].Type.(*ast.Ident)
				if !ok {
					continue
				}
				name = strings.ToLower(id.Name) + ":" + name
			}
			flags[name] = map[string]bool{}
			for _, p := range fd.Type.Params.List {
				if _, ok := p.Type.(*ast.StarExpr); ok {
					for _, n := range p.Names {
						flags[name][n.Name] = true
					}
				}
			}
		}
	}
	targets := map[string]map[string]bool{}
	for _, n := range names {
		fl, ok := flags[n]
		if !ok {
			t.Fatalf("`go run mage.go -l` lists %s, but neither magefile.go nor targets/ declares such a function: this test misreads them", n)
		}
		targets[n] = fl
	}
	return targets
}

func lowerFirst(s string) string {
	return strings.ToLower(s[:1]) + s[1:]
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// goFiles parses every non-test .go file of the module (magefile.go
// included), keyed by path relative to root.
func goFiles(t *testing.T, root string) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// internalPackages maps each internal/ package folder to its exported
// top-level names.
func internalPackages(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	pkgs := map[string]map[string]bool{}
	for path, f := range goFiles(t, root) {
		if !strings.HasPrefix(path, "internal/") {
			continue
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]bool{}
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					pkgs[dir][decl.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						pkgs[dir][spec.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							pkgs[dir][n.Name] = true
						}
					}
				}
			}
		}
	}
	return pkgs
}

// envReads finds every environment variable the code reads, mapped to one
// place that reads it. A name must be a string literal, a constant, or come
// from ranging over a literal table; anything else fails the test, so a
// new way of reading the environment can't hide a variable from the docs.
func envReads(t *testing.T, root string) map[string]string {
	t.Helper()
	read := map[string]string{}
	files := goFiles(t, root)
	for _, path := range slices.Sorted(maps.Keys(files)) {
		f := files[path]
		consts := map[string]string{}
		for _, decl := range f.Decls {
			if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								consts[n.Name] = s
							}
						}
					}
				}
			}
		}
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			call, ok := n.(*ast.CallExpr)
			if !ok || !isEnvReader(call.Fun) || len(call.Args) != 1 {
				return true
			}
			fn := enclosingFunc(stack)
			names, ok := envNames(call.Args[0], stack, consts)
			switch {
			case ok:
				for _, name := range names {
					if _, seen := read[name]; !seen {
						read[name] = path
					}
				}
			case dynamic[path+":"+fn] != "":
			case isParam(call.Args[0], stack) && (fn == "getenv" || fn == "Getenv"):
				// A getenv wrapper forwarding its parameter: its callers are checked.
			default:
				t.Errorf("%s: %s reads an environment variable whose name this test can't resolve: pass a string literal or constant, or range over a literal table (or list the call in dynamic with the reason)", path, fn)
			}
			return true
		})
	}
	if len(read) == 0 {
		t.Fatal("found no environment variable read anywhere: the parser is broken")
	}
	return read
}

// isEnvReader: os.Getenv, os.LookupEnv, and any function, parameter, field or
// method named getenv or Getenv.
func isEnvReader(fun ast.Expr) bool {
	switch fun := fun.(type) {
	case *ast.Ident:
		return fun.Name == "getenv" || fun.Name == "Getenv"
	case *ast.SelectorExpr:
		if x, ok := fun.X.(*ast.Ident); ok && x.Name == "os" {
			return fun.Sel.Name == "Getenv" || fun.Sel.Name == "LookupEnv"
		}
		return fun.Sel.Name == "getenv" || fun.Sel.Name == "Getenv"
	}
	return false
}

// envNames resolves the argument of an env read: "NAME", a constant, or k / d.name
// where k or d ranges over a composite literal in an enclosing loop.
func envNames(arg ast.Expr, stack []ast.Node, consts map[string]string) ([]string, bool) {
	if s, ok := stringLit(arg); ok {
		return []string{s}, true
	}
	var v, field string
	switch arg := arg.(type) {
	case *ast.Ident:
		if s, ok := consts[arg.Name]; ok {
			return []string{s}, true
		}
		v = arg.Name
	case *ast.SelectorExpr:
		x, ok := arg.X.(*ast.Ident)
		if !ok {
			return nil, false
		}
		v, field = x.Name, arg.Sel.Name
	default:
		return nil, false
	}
	for i := len(stack) - 1; i >= 0; i-- {
		r, ok := stack[i].(*ast.RangeStmt)
		if !ok {
			continue
		}
		if id, ok := r.Value.(*ast.Ident); !ok || id.Name != v {
			continue
		}
		lit, ok := r.X.(*ast.CompositeLit)
		if !ok {
			return nil, false
		}
		return tableColumn(lit, field)
	}
	return nil, false
}

// tableColumn returns the strings of a []string literal (field "") or one
// field of a []struct{...} literal.
func tableColumn(lit *ast.CompositeLit, field string) ([]string, bool) {
	idx := -1
	if field != "" {
		arr, ok := lit.Type.(*ast.ArrayType)
		if !ok {
			return nil, false
		}
		st, ok := arr.Elt.(*ast.StructType)
		if !ok {
			return nil, false
		}
		i := 0
		for _, fl := range st.Fields.List {
			for _, n := range fl.Names {
				if n.Name == field {
					idx = i
				}
				i++
			}
		}
		if idx < 0 {
			return nil, false
		}
	}
	var names []string
	for _, e := range lit.Elts {
		if idx >= 0 {
			row, ok := e.(*ast.CompositeLit)
			if !ok {
				return nil, false
			}
			e = nil
			for i, el := range row.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == field {
						e = kv.Value
					}
				} else if i == idx {
					e = el
				}
			}
		}
		s, ok := stringLit(e)
		if !ok {
			return nil, false
		}
		names = append(names, s)
	}
	return names, true
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func enclosingFunc(stack []ast.Node) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if fd, ok := stack[i].(*ast.FuncDecl); ok {
			return fd.Name.Name
		}
	}
	return ""
}

// isParam reports whether arg is a parameter of the innermost enclosing function.
func isParam(arg ast.Expr, stack []ast.Node) bool {
	id, ok := arg.(*ast.Ident)
	if !ok {
		return false
	}
	for i := len(stack) - 1; i >= 0; i-- {
		var ft *ast.FuncType
		switch fn := stack[i].(type) {
		case *ast.FuncDecl:
			ft = fn.Type
		case *ast.FuncLit:
			ft = fn.Type
		default:
			continue
		}
		for _, fl := range ft.Params.List {
			for _, n := range fl.Names {
				if n.Name == id.Name {
					return true
				}
			}
		}
		return false
	}
	return false
}
