package lint

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// migration is a goose file prepared for the SQL parser.
type migration struct {
	// up has the same length as the file, with every byte outside the Up
	// section blanked, so parser offsets are file offsets and line numbers
	// come out right without any mapping.
	up []byte
	// noTx is true when the file carries `-- +goose NO TRANSACTION`.
	noTx bool
	// hasUp is false when the file has no Up statements at all.
	hasUp bool
}

// gooseError is a malformed goose annotation: goose itself refuses the file.
type gooseError struct {
	line int
	msg  string
}

func (e *gooseError) Error() string { return e.msg }

// envVar matches what goose's ENVSUB expands: ${NAME}, ${NAME:-default}
// and $NAME. A `$tag$` dollar quote is left alone.
var envVar = regexp.MustCompile(`\$\{[^}\n]*\}|\$[A-Za-z_][A-Za-z0-9_]*\b`)

// prepare reads the goose annotations of src the way goose does (a line that
// starts with "--" and contains "+goose", case-insensitive command).
func prepare(src []byte) (*migration, error) {
	m := &migration{up: bytes.Repeat([]byte{' '}, len(src))}
	const (
		before = iota
		up
		down
	)
	section := before
	envsub := false
	off := 0
	for n, line := range bytes.SplitAfter(src, []byte("\n")) {
		start := off
		off += len(line)
		text := strings.TrimRight(string(line), "\r\n")
		if strings.HasPrefix(strings.TrimSpace(text), "--") && strings.Contains(text, "+goose") {
			cmd, err := annotation(text)
			if err != nil {
				return nil, &gooseError{line: n + 1, msg: err.Error()}
			}
			switch cmd {
			case "up":
				if section != before {
					return nil, &gooseError{line: n + 1, msg: "duplicate -- +goose Up annotation"}
				}
				section = up
			case "down":
				if section != up {
					return nil, &gooseError{line: n + 1, msg: "-- +goose Down before -- +goose Up"}
				}
				section = down
			case "no transaction":
				m.noTx = true
			case "envsub on":
				envsub = true
			case "envsub off":
				envsub = false
			}
			// StatementBegin/End need nothing: the parser splits on the
			// grammar, not on semicolons at line ends.
			keepNewline(m.up, line, off)
			continue
		}
		if section != up {
			keepNewline(m.up, line, off)
			continue
		}
		copy(m.up[start:off], line)
		if strings.TrimSpace(text) != "" {
			m.hasUp = true
		}
		if envsub {
			// The linter must not depend on the environment: a same-length
			// identifier keeps offsets and parses wherever a value could.
			seg := m.up[start:off]
			for _, loc := range envVar.FindAllIndex(seg, -1) {
				if loc[1] < len(seg) && seg[loc[1]] == '$' {
					continue
				}
				for i := loc[0]; i < loc[1]; i++ {
					seg[i] = '_'
				}
			}
		}
	}
	if section == before {
		return nil, &gooseError{line: 1, msg: "missing -- +goose Up annotation"}
	}
	return m, nil
}

// annotation returns the lower-cased goose command of an annotation line.
func annotation(line string) (string, error) {
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return "", fmt.Errorf("goose annotation %q has leading whitespace", line)
	}
	cmd := strings.ReplaceAll(line, "--", "")
	cmd = strings.Replace(cmd, "+goose", "", 1)
	cmd = strings.ToLower(strings.TrimSpace(cmd))
	switch cmd {
	case "up", "down", "statementbegin", "statementend", "no transaction", "envsub on", "envsub off":
		return cmd, nil
	}
	return "", fmt.Errorf("unknown goose annotation %q", line)
}

// keepNewline keeps a blanked line's newline so that line numbers stay those
// of the file.
func keepNewline(dst, line []byte, end int) {
	if bytes.HasSuffix(line, []byte("\n")) {
		dst[end-1] = '\n'
	}
}
