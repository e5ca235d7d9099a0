package lint

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// parseMu serialises calls into the parser. The WebAssembly build keeps a
// pool of instances and creates a new one (~1.2 s, ~250 MB) whenever the
// pool is empty, so concurrent callers would multiply the cost: one
// instance, used serially, is faster overall. The cgo build needs no lock
// but loses nothing by it: files are linted in order anyway.
var parseMu sync.Mutex

// parses counts the files parsed.
var parses atomic.Int64

// Parses is how many files this process has parsed: 0 after a run the cache
// answered for entirely, which never started the parser.
func Parses() int64 { return parses.Load() }

// parser is one build of pg_query: the C library through cgo when the
// toolchain can build it (CGO_ENABLED=1 and a C compiler, as in dev and CI),
// else its WebAssembly build, which needs no C compiler but costs ~1.2 s and
// ~250 MB to start. Both are the same libpg_query version (go-pgquery tracks
// pg_query_go), so findings don't depend on the build.
type parser struct {
	name    string
	parse   func(string) (*pganalyze.ParseResult, error)
	scan    func(string) (*pganalyze.ScanResult, error)
	plpgsql func(string) (string, error)
	errorAt func(error) (msg string, cursor int, ok bool)
}

// ParserBuild names the parser this binary lints with: "cgo" (fast) or
// "wasm", the fallback when the binary was built without a C compiler, which
// pays the start-up cost on its first file.
func ParserBuild() string { return backend.name }

// parsed is the parser's view of one Up section.
type parsed struct {
	stmts    []*pganalyze.RawStmt
	tokens   []*pganalyze.ScanToken
	comments []*pganalyze.ScanToken
}

// syntaxError is a parse failure at a byte offset of the source.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string { return e.msg }

// parse parses sql, and scans it too: the parse tree has no comments, and
// the opt-outs live in comments.
func parse(sql []byte) (*parsed, error) {
	parseMu.Lock()
	defer parseMu.Unlock()
	parses.Add(1)
	tree, err := backend.parse(string(sql))
	if err != nil {
		return nil, toSyntaxError(sql, err)
	}
	scan, err := backend.scan(string(sql))
	if err != nil {
		return nil, toSyntaxError(sql, err)
	}
	p := &parsed{stmts: tree.Stmts}
	for _, t := range scan.Tokens {
		switch t.Token {
		case pganalyze.Token_SQL_COMMENT, pganalyze.Token_C_COMMENT:
			p.comments = append(p.comments, t)
		default:
			p.tokens = append(p.tokens, t)
		}
	}
	return p, nil
}

// parsePlpgsql parses a PL/pgSQL function into pg_query's JSON tree.
func parsePlpgsql(sql string) (string, error) {
	parseMu.Lock()
	defer parseMu.Unlock()
	return backend.plpgsql(sql)
}

// toSyntaxError turns the parser's 1-based character cursor into a byte
// offset; an error without a cursor points at the start.
func toSyntaxError(sql []byte, err error) error {
	msg, cursor, ok := backend.errorAt(err)
	if !ok {
		return &syntaxError{msg: err.Error()}
	}
	off, chars := 0, 1
	for off < len(sql) && chars < cursor {
		_, size := utf8.DecodeRune(sql[off:])
		off += size
		chars++
	}
	return &syntaxError{offset: off, msg: msg}
}
