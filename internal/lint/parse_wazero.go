//go:build !cgo

package lint

import (
	"errors"

	pgquery "github.com/wasilibs/go-pgquery"
	wparser "github.com/wasilibs/go-pgquery/parser"
)

var backend = parser{
	name:    "wasm",
	parse:   pgquery.Parse,
	scan:    pgquery.Scan,
	plpgsql: pgquery.ParsePlPgSqlToJSON,
	errorAt: func(err error) (string, int, bool) {
		var pe *wparser.Error
		if !errors.As(err, &pe) {
			return "", 0, false
		}
		return pe.Message, pe.Cursorpos, true
	},
}
