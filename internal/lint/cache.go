package lint

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Option changes how Dir and FS lint.
type Option func(*options)

type options struct {
	cache string
}

// WithCache keeps each file's findings in dir, so that a later run over
// unchanged files parses nothing. "" turns the cache off.
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

func (c *checker) state() checkerState {
	return checkerState{c.notNull, c.pendingNotNull, c.colTypes, c.partitioned}
}

func checkerFrom(s checkerState) *checker {
	c := newChecker()
	for k, v := range s.NotNull {
		c.notNull[k] = v
	}
	for k, v := range s.PendingNotNull {
		c.pendingNotNull[k] = v
	}
	for k, v := range s.ColTypes {
		c.colTypes[k] = v
	}
	for k, v := range s.Partitioned {
		c.partitioned[k] = v
	}
	return c
}

// resultCache reads and writes entries; a nil one caches nothing.
type resultCache struct{ dir string }

func (rc *resultCache) path(key []byte, ext string) string {
	return filepath.Join(rc.dir, hex.EncodeToString(key)+ext)
}

func (rc *resultCache) findings(key []byte, label string) ([]Finding, bool) {
	if rc == nil {
		return nil, false
	}
	var cached []cachedFinding
	if !rc.read(rc.path(key, ".json"), &cached) {
		return nil, false
	}
	out := make([]Finding, 0, len(cached))
	for _, f := range cached {
		out = append(out, Finding{Path: label, Line: f.Line, Rule: f.Rule, Message: f.Message})
	}
	return out, true
}

func (rc *resultCache) state(key []byte) (checkerState, bool) {
	var s checkerState
	return s, rc != nil && rc.read(rc.path(key, ".state.json"), &s)
}

func (rc *resultCache) read(path string, v any) bool {
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (rc *resultCache) putFindings(key []byte, findings []Finding) {
	cached := make([]cachedFinding, 0, len(findings))
	for _, f := range findings {
		cached = append(cached, cachedFinding{f.Line, f.Rule, f.Message})
	}
	rc.write(rc.path(key, ".json"), cached)
}

func (rc *resultCache) putState(key []byte, s checkerState) {
	rc.write(rc.path(key, ".state.json"), s)
}

// write is best effort: a cache that can't be written only costs time.
func (rc *resultCache) write(path string, v any) {
	if rc == nil {
		return
	}
	b, err := json.Marshal(v)
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
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

// migrationFile is one file of a run, read and keyed.
type migrationFile struct {
	label string
	src   []byte
	key   []byte
}

// lintFiles lints files in order, taking from the cache the longest prefix
// it holds and linting the rest from the checker state saved after that
// prefix. It saves the state after the last two files, where the next run
// most likely resumes (a new file appended; the newest file edited).
func lintFiles(files []migrationFile, rc *resultCache) []Finding {
	results := make([][]Finding, len(files))
	hit := 0
	for hit < len(files) {
		f, ok := rc.findings(files[hit].key, files[hit].label)
		if !ok {
			break
		}
		results[hit] = f
		hit++
	}
	// Resume after the longest cached prefix whose state was saved.
	c := newChecker()
	start := 0
	for i := hit; i > 0; i-- {
		if i == len(files) {
			start = i // everything cached: nothing to lint
			break
		}
		if s, ok := rc.state(files[i-1].key); ok {
			c, start = checkerFrom(s), i
			break
		}
	}
	for i := start; i < len(files); i++ {
		results[i] = c.file(files[i].label, files[i].src)
		if rc != nil && i >= hit {
			rc.putFindings(files[i].key, results[i])
		}
		if rc != nil && i >= len(files)-2 {
			rc.putState(files[i].key, c.state())
		}
	}
	if start < len(files) {
		rc.prune(time.Now())
	}
	return slices.Concat(results...)
}

// Entries older than these are removed when a run writes new ones: states
// matter only where the next run resumes, and a findings entry unused for
// months costs one cold run to rebuild.
const (
	stateTTL    = 7 * 24 * time.Hour
	findingsTTL = 90 * 24 * time.Hour
)

func (rc *resultCache) prune(now time.Time) {
	if rc == nil {
		return
	}
	entries, err := os.ReadDir(rc.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		ttl := findingsTTL
		if strings.HasSuffix(e.Name(), ".state.json") {
			ttl = stateTTL
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > ttl {
			os.Remove(filepath.Join(rc.dir, e.Name()))
		}
	}
}
