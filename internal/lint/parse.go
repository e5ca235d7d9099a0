package lint

import (
	"errors"
	"sync"
	"unicode/utf8"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
	pgquery "github.com/wasilibs/go-pgquery"
	"github.com/wasilibs/go-pgquery/parser"
)

// parseMu serialises calls into the WebAssembly parser. go-pgquery keeps a
// pool of instances and creates a new one (~1.2 s, ~250 MB) whenever the
// pool is empty, so concurrent callers would multiply the cost: one
// instance, used serially, is faster overall.
var parseMu sync.Mutex

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
	tree, err := pgquery.Parse(string(sql))
	if err != nil {
		return nil, toSyntaxError(sql, err)
	}
	scan, err := pgquery.Scan(string(sql))
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

// scan tokenises sql without parsing it.
func scan(sql string) ([]*pganalyze.ScanToken, error) {
	parseMu.Lock()
	defer parseMu.Unlock()
	res, err := pgquery.Scan(sql)
	if err != nil {
		return nil, err
	}
	return res.Tokens, nil
}

// toSyntaxError turns the parser's 1-based character cursor into a byte
// offset; an error without a cursor points at the start.
func toSyntaxError(sql []byte, err error) error {
	var pe *parser.Error
	if !errors.As(err, &pe) {
		return &syntaxError{msg: err.Error()}
	}
	off, chars := 0, 1
	for off < len(sql) && chars < pe.Cursorpos {
		_, size := utf8.DecodeRune(sql[off:])
		off += size
		chars++
	}
	return &syntaxError{offset: off, msg: pe.Message}
}
