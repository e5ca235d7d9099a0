//go:build cgo

package lint

import (
	"errors"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
	cparser "github.com/pganalyze/pg_query_go/v6/parser"
)

var backend = parser{
	name:    "cgo",
	parse:   pganalyze.Parse,
	scan:    pganalyze.Scan,
	plpgsql: pganalyze.ParsePlPgSqlToJSON,
	errorAt: func(err error) (string, int, bool) {
		var pe *cparser.Error
		if !errors.As(err, &pe) {
			return "", 0, false
		}
		return pe.Message, pe.Cursorpos, true
	},
}
