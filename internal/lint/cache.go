package lint

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Option changes how Dir and FS lint.
type Option func(*options)

type options struct {
	cache string
}

// WithCache keeps each file's findings in dir, so that a later run over
// unchanged files parses nothing. "" turns the cache off. The folder Dir
// lints identifies the cache file.
//
// A cached result is keyed by everything the findings depend on: the
// linter's own source and parser build, and the bytes and names of this file
// and of every file before it in goose order, since an earlier migration
// changes what a later one means (a validated check, a column's type, a
// partitioned table). Editing, adding or reordering an earlier file therefore
// misses for every file after it; a cache can't hide a finding. Entries are
// written atomically and a damaged one reads as a miss.
func WithCache(dir string) Option {
	return func(o *options) { o.cache = dir }
}

// DefaultCacheDir is where lintMigrations keeps its cache: slipway/lint
// under the user cache directory (~/.cache on Linux), or "" if there is none.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "slipway", "lint")
}

// sources is the linter's own code: a change to any rule changes the cache
// key without anyone remembering to bump a version.
//
//go:embed *.go
var sources embed.FS

var rulesVersion = sync.OnceValue(func() []byte {
	h := sha256.New()
	entries, _ := fs.ReadDir(sources, ".")
	for _, e := range entries {
		b, _ := fs.ReadFile(sources, e.Name())
		h.Write([]byte(e.Name() + "\x00"))
		h.Write(b)
	}
	h.Write([]byte("\x00" + backend.name))
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/pganalyze/pg_query_go/v6", "github.com/wasilibs/go-pgquery":
				h.Write([]byte("\x00" + d.Path + "@" + d.Version))
			}
		}
	}
	return h.Sum(nil)
})

// chainKey is the cache key of a file, given the key of the file before it.
func chainKey(prev []byte, name string, src []byte) []byte {
	sum := sha256.Sum256(src)
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(name + "\x00"))
	h.Write(sum[:])
	return h.Sum(nil)
}

// cacheKey is chainKey's hex form, as packs store it.
func cacheKey(k []byte) string { return hex.EncodeToString(k) }

// cachedFinding is a Finding without its path, which the caller chooses.
type cachedFinding struct {
	Line    int    `json:"line"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// checkerState is what a checker carries from one file to the next.
type checkerState struct {
	NotNull        map[string]bool   `json:"not_null"`
	PendingNotNull map[string]string `json:"pending_not_null"`
	ColTypes       map[string]string `json:"col_types"`
	Partitioned    map[string]bool   `json:"partitioned"`
}

// state is a copy: the checker goes on changing its maps with later files.
func (c *checker) state() checkerState {
	return checkerState{maps.Clone(c.notNull), maps.Clone(c.pendingNotNull), maps.Clone(c.colTypes),
		maps.Clone(c.partitioned)}
}

func checkerFrom(s checkerState) *checker {
	c := newChecker()
	maps.Copy(c.notNull, s.NotNull)
	maps.Copy(c.pendingNotNull, s.PendingNotNull)
	maps.Copy(c.colTypes, s.ColTypes)
	maps.Copy(c.partitioned, s.Partitioned)
	return c
}

// resultCache keeps one folder's results in one file, so that a run costs
// one read and at most one write however many files it has; a nil one
// caches nothing.
type resultCache struct {
	dir string
	// folder identifies the migrations folder: its absolute path.
	folder string
}

// pack is the cache file of one folder: the key and findings of each file of
// the last run, in order, and the checker state after the last two files,
// where the next run most likely resumes (a new file appended; the newest
// file edited).
type pack struct {
	Keys     []string                `json:"keys"`
	Findings [][]cachedFinding       `json:"findings"`
	States   map[string]checkerState `json:"states"`
}

func (rc *resultCache) path() string {
	sum := sha256.Sum256([]byte(rc.folder))
	return filepath.Join(rc.dir, hex.EncodeToString(sum[:16])+".json")
}

func (rc *resultCache) load() pack {
	var p pack
	if rc == nil {
		return p
	}
	b, err := os.ReadFile(rc.path())
	if err != nil || json.Unmarshal(b, &p) != nil || len(p.Keys) != len(p.Findings) {
		return pack{}
	}
	return p
}

// save is best effort: a cache that can't be written only costs time.
func (rc *resultCache) save(p pack) {
	if rc == nil {
		return
	}
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	if err := os.MkdirAll(rc.dir, 0o755); err != nil {
		return
	}
	tmp, err := os.CreateTemp(rc.dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if errors.Join(werr, cerr) != nil || os.Rename(tmp.Name(), rc.path()) != nil {
		os.Remove(tmp.Name())
		return
	}
	rc.prune(time.Now())
}

// packTTL: a folder not linted for this long loses its cache file, which
// costs one cold run to rebuild.
const packTTL = 90 * 24 * time.Hour

func (rc *resultCache) prune(now time.Time) {
	entries, err := os.ReadDir(rc.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > packTTL {
			os.Remove(filepath.Join(rc.dir, e.Name()))
		}
	}
}

// migrationFile is one file of a run, read and keyed.
type migrationFile struct {
	label string
	src   []byte
	key   string
}

// lintFiles lints files in order, taking from the cache the longest prefix
// it holds and linting the rest from the checker state saved after that
// prefix (from the start when there is none).
func lintFiles(files []migrationFile, rc *resultCache) []Finding {
	old := rc.load()
	results := make([][]Finding, len(files))
	hit := 0
	for hit < len(files) && hit < len(old.Keys) && old.Keys[hit] == files[hit].key {
		results[hit] = withPath(old.Findings[hit], files[hit].label)
		hit++
	}
	c, start := newChecker(), 0
	for i := hit; i > 0; i-- {
		if i == len(files) {
			start = i // everything cached: nothing to lint
			break
		}
		if s, ok := old.States[files[i-1].key]; ok {
			c, start = checkerFrom(s), i
			break
		}
	}
	if start == len(files) {
		return slices.Concat(results...)
	}
	next := pack{States: map[string]checkerState{}}
	for i := range files {
		last := i >= len(files)-2
		switch {
		case i >= start:
			results[i] = c.file(files[i].label, files[i].src)
			if last {
				next.States[files[i].key] = c.state()
			}
		case last:
			if s, ok := old.States[files[i].key]; ok {
				next.States[files[i].key] = s
			}
		}
		next.Keys = append(next.Keys, files[i].key)
		next.Findings = append(next.Findings, withoutPath(results[i]))
	}
	rc.save(next)
	return slices.Concat(results...)
}

func withPath(cached []cachedFinding, label string) []Finding {
	out := make([]Finding, 0, len(cached))
	for _, f := range cached {
		out = append(out, Finding{Path: label, Line: f.Line, Rule: f.Rule, Message: f.Message})
	}
	return out
}

func withoutPath(findings []Finding) []cachedFinding {
	out := make([]cachedFinding, 0, len(findings))
	for _, f := range findings {
		out = append(out, cachedFinding{f.Line, f.Rule, f.Message})
	}
	return out
}
