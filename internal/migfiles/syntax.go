package migfiles

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// gooseSpec is where goose documents its annotations.
const gooseSpec = "see https://github.com/pressly/goose#sql-migrations"

// syntaxError is where goose's parser would refuse a file, with the line.
type syntaxError struct {
	line int
	msg  string
	fix  string
}

// checkSyntax runs goose's SQL parser state machine (internal/sqlparser in
// goose v3.30) over src without executing anything: a file it refuses would
// fail only when `Up` reaches it, which on a deploy is too late. It returns
// the first problem, as goose does, or nil.
func checkSyntax(src []byte) *syntaxError {
	const (
		start = iota
		up
		down
	)
	section := start
	inBlock := 0 // line of the open StatementBegin, 0 when none
	pending := 0 // first line of a statement not yet ended by a semicolon

	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 4<<20) // goose's own limit on a line
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") && strings.Contains(line, "+goose") {
			cmd, err := annotation(line)
			if err != nil {
				return &syntaxError{n, err.Error(), "write it as -- +goose Up|Down|StatementBegin|StatementEnd|NO TRANSACTION|ENVSUB ON|ENVSUB OFF at the start of the line, " + gooseSpec}
			}
			switch cmd {
			case "up":
				if section != start {
					return &syntaxError{n, "second -- +goose Up annotation", "keep one Up section per file"}
				}
				section = up
			case "down":
				switch {
				case section != up:
					return &syntaxError{n, "-- +goose Down before -- +goose Up", "start the file with -- +goose Up"}
				case inBlock > 0:
					return &syntaxError{inBlock, "-- +goose StatementBegin has no StatementEnd before -- +goose Down", "add -- +goose StatementEnd after the statement"}
				case pending > 0:
					return &syntaxError{pending, "statement does not end with a semicolon", "end it with ; (goose splits statements on semicolons at line ends)"}
				}
				section = down
			case "statementbegin":
				switch {
				case section == start:
					return &syntaxError{n, "-- +goose StatementBegin before -- +goose Up", "start the file with -- +goose Up"}
				case inBlock > 0:
					return &syntaxError{inBlock, "-- +goose StatementBegin has no StatementEnd", "add -- +goose StatementEnd after the statement"}
				}
				inBlock, pending = n, 0
			case "statementend":
				if inBlock == 0 {
					return &syntaxError{n, "-- +goose StatementEnd without a StatementBegin", "add -- +goose StatementBegin before the statement, or remove this line"}
				}
				inBlock = 0
			}
			continue
		}
		if inBlock > 0 {
			continue
		}
		// Blank lines and comments between statements are ignored, as goose
		// ignores them; a comment inside a statement belongs to it.
		if pending == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--")) {
			continue
		}
		if section == start {
			return &syntaxError{n, "SQL before -- +goose Up", "put -- +goose Up on the first line"}
		}
		if pending == 0 {
			pending = n
		}
		if endsWithSemicolon(line) {
			pending = 0
		}
	}
	if err := sc.Err(); err != nil {
		return &syntaxError{n + 1, "unreadable: " + err.Error(), "keep lines under 4 MiB"}
	}
	switch {
	case section == start:
		return &syntaxError{1, "no -- +goose Up annotation", "start the file with -- +goose Up (" + gooseSpec + ")"}
	case inBlock > 0:
		return &syntaxError{inBlock, "-- +goose StatementBegin has no StatementEnd", "add -- +goose StatementEnd after the statement"}
	case pending > 0:
		return &syntaxError{pending, "statement does not end with a semicolon", "end it with ; (goose splits statements on semicolons at line ends)"}
	}
	return nil
}

// annotation returns the lower-cased goose command of an annotation line,
// with goose's rules (extractAnnotation): no leading whitespace, one +goose,
// a known command in any case.
func annotation(line string) (string, error) {
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return "", fmt.Errorf("goose annotation %q has leading whitespace", strings.TrimSpace(line))
	}
	cmd := strings.ReplaceAll(line, "--", "")
	cmd = strings.Replace(cmd, "+goose", "", 1)
	if strings.Contains(cmd, "+goose") {
		return "", fmt.Errorf("more than one +goose on the line %q", line)
	}
	cmd = strings.ToLower(strings.TrimSpace(cmd))
	switch cmd {
	case "up", "down", "statementbegin", "statementend", "no transaction", "envsub on", "envsub off":
		return cmd, nil
	case "":
		return "", fmt.Errorf("empty goose annotation %q", line)
	}
	return "", fmt.Errorf("unknown goose annotation %q", line)
}

// endsWithSemicolon is goose's test: the last word before any "--" ends
// with a semicolon.
func endsWithSemicolon(line string) bool {
	prev := ""
	for word := range strings.FieldsSeq(line) {
		if strings.HasPrefix(word, "--") {
			break
		}
		prev = word
	}
	return strings.HasSuffix(prev, ";")
}
