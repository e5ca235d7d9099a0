package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// names are capitalized words a package doc may use that are not Go
// identifiers: products, formats, people's words.
var names = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`Slipway Go PostgreSQL Postgres Linux Debian Ubuntu Caddy Pebble Mage OpenSSH SSH
		Chromium Kamal Capistrano HTTP HTTPS HTTP/1.1 HTTP/2 TLS ACME DNS JSON SQL URL URLs API CI CPU CSV TCP UDP IPv4 IPv6 ID IDs
		UTC UUID UTF-8 OS PID Unix POSIX GNU AWK Perl GitHub Actions README CHANGELOG S3 NAT RFC I/O
		Let's Encrypt Prometheus OpenMetrics Argon2id HMAC SHA-256 AES GCM Slack Discord WebAssembly Caddyfile
		EnvironmentFile Match Include Up Down`) {
		names[w] = true
	}
}

// A package doc names identifiers, files and units; each must exist.
// Identifiers: Name and pkg.Name in the text (a capitalized word inside a
// sentence, a CamelCase word, a call) must be declared in the package (or
// in the module package it qualifies, or be a product name). Files and
// units: backticked or <placeholder> paths and unit names must appear in
// the module's code (with the placeholders removed) or exist as files.
func TestPackageDocsNameWhatExists(t *testing.T) {
	root := repoRoot(t)
	pkgs := map[string]*pkgInfo{} // by directory, relative
	byName := map[string][]*pkgInfo{}
	var source strings.Builder // every non-test file's text, for units and files
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "bin", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch filepath.Ext(p) {
		case ".go":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			dir := filepath.Dir(rel)
			pi := pkgs[dir]
			if pi == nil {
				pi = &pkgInfo{dir: dir, decls: map[string]bool{}}
				pkgs[dir] = pi
			}
			pi.add(t, p, b, &source)
		case ".service", ".socket", ".timer", ".tmpl", ".sh", ".conf":
			b, _ := os.ReadFile(p)
			source.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range pkgs {
		byName[pi.name] = append(byName[pi.name], pi)
	}
	src := source.String()
	keys := mapsKeys(pkgs)
	slices.Sort(keys)
	for _, dir := range keys {
		pi := pkgs[dir]
		if pi.doc == "" {
			continue
		}
		for _, w := range docIdentifiers(pi.doc) {
			if !pi.knows(w, byName) {
				t.Errorf("%s: package doc names %s, which the package does not declare: describe the code as it is", dir, w)
			}
		}
		for _, f := range docFiles(pi.doc) {
			if !fileExists(root, f, src, byName) {
				t.Errorf("%s: package doc names %s, which no code of the module writes or reads: describe the code as it is", dir, f)
			}
		}
	}
}

func mapsKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

type pkgInfo struct {
	dir, name, doc string
	decls          map[string]bool
	imports        map[string]bool // local names of imported packages
}

// add reads one file: its declarations, and its string literals into lits
// (what the code spells: unit and file names).
func (pi *pkgInfo) add(t *testing.T, path string, b []byte, lits *strings.Builder) {
	f, err := parser.ParseFile(token.NewFileSet(), path, b, parser.ParseComments)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	pi.name = f.Name.Name
	if f.Doc != nil && pi.doc == "" {
		pi.doc = f.Doc.Text()
	}
	if pi.imports == nil {
		pi.imports = map[string]bool{}
	}
	for _, im := range f.Imports {
		p := strings.Trim(im.Path.Value, `"`)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		pi.imports[name] = true
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			pi.decls[n.Name.Name] = true
		case *ast.TypeSpec:
			pi.decls[n.Name.Name] = true
		case *ast.ValueSpec:
			for _, id := range n.Names {
				pi.decls[id.Name] = true
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				lits.WriteString(n.Value + "\n")
			}
		case *ast.StructType:
			pi.fields(n.Fields)
		case *ast.InterfaceType:
			pi.fields(n.Methods)
		}
		return true
	})
}

// fields declares a struct's fields or an interface's methods; an
// embedded type is a field of its name.
func (pi *pkgInfo) fields(l *ast.FieldList) {
	for _, f := range l.List {
		for _, id := range f.Names {
			pi.decls[id.Name] = true
		}
		if len(f.Names) == 0 {
			switch x := f.Type.(type) {
			case *ast.Ident:
				pi.decls[x.Name] = true
			case *ast.StarExpr:
				if id, ok := x.X.(*ast.Ident); ok {
					pi.decls[id.Name] = true
				}
			}
		}
	}
}

// knows reports whether w (Name or pkg.Name or Type.Member) exists.
func (pi *pkgInfo) knows(w string, byName map[string][]*pkgInfo) bool {
	first, rest, qualified := strings.Cut(w, ".")
	if !qualified {
		return pi.decls[w] || names[w]
	}
	if pi.decls[first] {
		return pi.decls[rest] // Type.Method or Type.Field
	}
	if i := strings.LastIndex(rest, "."); i >= 0 {
		rest = rest[i+1:] // pkg.Type.Member: the member
	}
	if others, ok := byName[first]; ok && (pi.imports[first] || first == pi.name || len(others) > 0) {
		for _, o := range others {
			if o.decls[rest] {
				return true
			}
		}
		return false
	}
	return true // another module's package (ssh.InsecureIgnoreHostKey): not ours to check
}

var (
	codeSpan  = regexp.MustCompile("`[^`]*`")
	identWord = regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){0,2}(?:\(\))?`)
	camel     = regexp.MustCompile(`^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*$`)
	// notNames are the parts of a doc line that are no Go identifiers:
	// placeholders, paths, file names, ALL_CAPS words and settings,
	// hyphenated and apostrophized words (X-Forwarded-For, Let's), systemd
	// directives (WatchdogSec=), addresses.
	notNames = regexp.MustCompile(`<[^>]*>|\S*/\S*|\S+\.(?:go|md|sh|service|socket|timer|sql|json|toml|log|dump|lock)\b|\b[A-Z_]{2,}[A-Z0-9_]*\b(?:=\S*)?|\S+\.\S+@\S+|https?://\S+|\w+(?:[-'’]\w+)+|\b\w+=\S*`)
)

// docIdentifiers are the words of doc that name Go identifiers: outside
// code spans and placeholders, a word with a dot between two names
// (pkg.Name), a call (Name()), a CamelCase word, or a capitalized word
// that does not start a sentence.
func docIdentifiers(doc string) []string {
	var out []string
	prevEnd := true // a line starts a sentence after a full stop or a blank line
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "  ") && !strings.HasPrefix(strings.TrimSpace(line), "-") {
			continue // a code block
		}
		if strings.HasPrefix(line, "# ") {
			continue // a heading
		}
		line = codeSpan.ReplaceAllString(line, " ")
		line = notNames.ReplaceAllString(line, " ")
		startsLine := prevEnd
		prevEnd = strings.HasSuffix(strings.TrimSpace(line), ".") || strings.TrimSpace(line) == ""
		if i := strings.IndexFunc(line, func(r rune) bool { return r != ' ' && r != '-' && r != '*' }); i > 0 {
			line = line[i:]
		}
		for _, loc := range identWord.FindAllStringIndex(line, -1) {
			w := line[loc[0]:loc[1]]
			before := strings.TrimRight(line[:loc[0]], " ")
			startsSentence := before == "" && startsLine || strings.HasSuffix(before, ".") || strings.HasSuffix(before, ":")
			call := strings.HasSuffix(w, "()")
			w = strings.TrimSuffix(w, "()")
			dotted := strings.Contains(w, ".")
			switch {
			case dotted && allNames(strings.Split(w, ".")) && startsUpperOrPkg(w):
				out = append(out, w)
			case call, camel.MatchString(w):
				out = append(out, w)
			case !startsSentence && w[0] >= 'A' && w[0] <= 'Z' && len(w) > 1:
				out = append(out, w)
			}
		}
	}
	return out
}

func allNames(parts []string) bool {
	for _, p := range parts {
		if !isName(p) {
			return false
		}
	}
	return true
}

func isName(s string) bool {
	return s != "" && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(s)
}

// startsUpperOrPkg keeps pkg.Name and Type.Member, not "e.g" or "i.e".
func startsUpperOrPkg(w string) bool {
	_, rest, _ := strings.Cut(w, ".")
	return rest != "" && (rest[0] >= 'A' && rest[0] <= 'Z')
}

var fileToken = regexp.MustCompile("`([^`]+)`|(\\S*<[a-z_]+>\\S*)")

// docFiles are the unit and file names doc names: backticked or with a
// <placeholder>, ending like a unit or containing a path.
func docFiles(doc string) []string {
	var out []string
	for _, m := range fileToken.FindAllStringSubmatch(doc, -1) {
		s := m[1] + m[2]
		s = strings.TrimRight(s, ".,;:)")
		s = strings.TrimLeft(s, "(")
		if strings.ContainsAny(s, " =$") {
			continue // a command or a setting, not a file
		}
		if regexp.MustCompile(`\.(service|socket|timer)$`).MatchString(s) || strings.Contains(s, "/") && !strings.Contains(s, "://") {
			out = append(out, s)
		}
	}
	return out
}

// fileExists: a repository path that exists, or a name whose literal parts
// (placeholders removed) the module's code spells or declares (SiteDir).
func fileExists(root, f, src string, byName map[string][]*pkgInfo) bool {
	if _, err := os.Stat(filepath.Join(root, f)); err == nil {
		return true
	}
	for _, part := range regexp.MustCompile(`<[^>]*>|\*`).Split(f, -1) {
		part = strings.Trim(part, "/")
		if len(part) < 3 {
			continue
		}
		if !strings.Contains(src, part) && !declared(part, byName) {
			return false
		}
	}
	return true
}

func declared(name string, byName map[string][]*pkgInfo) bool {
	for _, ps := range byName {
		for _, p := range ps {
			if p.decls[name] {
				return true
			}
		}
	}
	return false
}
