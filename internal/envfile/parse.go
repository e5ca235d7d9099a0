package envfile

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Assignment is one KEY=value of an env file as systemd reads it.
type Assignment struct {
	Key   string
	Value string
	// Line is the line the assignment starts on (1-based); a quoted
	// value or a continuation may carry it over more lines.
	Line int
	// Start and End delimit its text in the file: from the key's first
	// byte to just after the line break that ends it (or the file's end).
	Start, End int
}

// Skipped is a line that holds something other than a comment, yet sets
// nothing: systemd drops it (no =, or a name it doesn't accept, such as
// `export KEY`). Reason says why without quoting the line, which may hold
// a secret.
type Skipped struct {
	Line   int
	Reason string
}

// File is an env file as systemd 252's EnvironmentFile= reads it.
type File struct {
	// Assignments are the valid ones in file order, repeats included.
	Assignments []Assignment
	Skipped     []Skipped
	data        []byte
	end         int // the parser's state at the end of data
	endLine     int // the line an open quote at the end started on
}

// Var is one variable of the environment a file gives.
type Var struct {
	Key   string
	Value string
	Line  int // of the assignment that wins
}

// Vars is the environment the file gives, as systemd builds it: in the
// order each name first appears, the last assignment of a name winning.
func (f *File) Vars() []Var {
	var vars []Var
	at := map[string]int{}
	for _, a := range f.Assignments {
		v := Var{Key: a.Key, Value: a.Value, Line: a.Line}
		if i, ok := at[a.Key]; ok {
			vars[i] = v
			continue
		}
		at[a.Key] = len(vars)
		vars = append(vars, v)
	}
	return vars
}

// Lookup is the value systemd gives key, and whether it sets it.
func (f *File) Lookup(key string) (string, bool) {
	v, ok := "", false
	for _, a := range f.Assignments {
		if a.Key == key {
			v, ok = a.Value, true
		}
	}
	return v, ok
}

// The byte classes of systemd's src/basic/string-util.h and escape.h.
const (
	whitespace      = " \t\n\r"
	newline         = "\n\r"
	comments        = "#;"
	shellNeedEscape = "\"\\`$"
)

// The states of systemd's parser, named as there.
const (
	preKey = iota
	inKey
	preValue
	inValue
	valueEscape
	singleQuote
	doubleQuote
	doubleQuoteEscape
	comment
	commentEscape
)

// Parse reads data as systemd 252 reads an EnvironmentFile=: a port of
// parse_env_file_internal (src/basic/env-file.c at v252), then the checks
// load_env_file_push and the unit's environment apply (UTF-8, valid
// names). What systemd reads differently from any parse (a NUL byte ends
// its reading of the file) or refuses as a whole (invalid UTF-8 fails
// every unit that loads the file) is an error naming the line and the fix.
func Parse(data []byte) (*File, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf("line %d holds a NUL byte, where systemd stops reading the file: remove it", 1+bytes.Count(data[:i], []byte("\n")))
	}
	f := &File{data: data}
	var (
		key, value     []byte
		lastKeySpace   = -1
		lastValueSpace = -1
		line           = 1
		keyLine, keyAt int
		state          = preKey
	)
	push := func(end int, chomp bool) error {
		if chomp && lastValueSpace >= 0 {
			value = value[:lastValueSpace]
		}
		if lastKeySpace >= 0 {
			key = key[:lastKeySpace]
		}
		// systemd joins KEY "=" NULL as KEY=: no value is an empty one.
		k, v := string(key), string(value)
		switch {
		case !utf8.ValidString(k):
			return fmt.Errorf("line %d: the name is not valid UTF-8, and systemd refuses the whole file for it (the app would not start): rewrite that name in UTF-8 (sudoedit the file)", keyLine)
		case !utf8.ValidString(v):
			what := "the value"
			if validName(k) { // else the "name" may be a pasted secret: not quoted
				what += " of " + k
			}
			return fmt.Errorf("line %d: %s is not valid UTF-8, and systemd refuses the whole file for it (the app would not start): rewrite that value in UTF-8 (sudoedit the file)", keyLine, what)
		case !validName(k):
			f.Skipped = append(f.Skipped, Skipped{Line: keyLine, Reason: skipReason(k)})
		default:
			f.Assignments = append(f.Assignments, Assignment{Key: k, Value: v, Line: keyLine, Start: keyAt, End: end})
		}
		key, value = key[:0], nil
		return nil
	}
	// end is just past the line break at p, a CR LF taken whole.
	end := func(p int) int {
		if data[p] == '\r' && p+1 < len(data) && data[p+1] == '\n' {
			return p + 2
		}
		return p + 1
	}
	for p := 0; p < len(data); p++ {
		c := data[p]
		isNL := strings.IndexByte(newline, c) >= 0
		isWS := strings.IndexByte(whitespace, c) >= 0
		switch state {
		case preKey:
			if strings.IndexByte(comments, c) >= 0 {
				state = comment
			} else if !isWS {
				state = inKey
				lastKeySpace = -1
				keyLine, keyAt = line, p
				key = append(key[:0], c)
			}
		case inKey:
			if isNL {
				// A line without =: systemd drops it without a word.
				f.Skipped = append(f.Skipped, Skipped{Line: keyLine, Reason: "it has no =: write NAME=value"})
				state = preKey
				key = key[:0]
			} else if c == '=' {
				state = preValue
				lastValueSpace = -1
			} else {
				if !isWS {
					lastKeySpace = -1
				} else if lastKeySpace < 0 {
					lastKeySpace = len(key)
				}
				key = append(key, c)
			}
		case preValue:
			switch {
			case isNL:
				state = preKey
				if err := push(end(p), false); err != nil {
					return nil, err
				}
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isWS:
				state = inValue
				value = append(value, c)
			}
		case inValue:
			switch {
			case isNL:
				state = preKey
				if err := push(end(p), true); err != nil {
					return nil, err
				}
			case c == '\\':
				state = valueEscape
				lastValueSpace = -1
			default:
				if !isWS {
					lastValueSpace = -1
				} else if lastValueSpace < 0 {
					lastValueSpace = len(value)
				}
				value = append(value, c)
			}
		case valueEscape:
			state = inValue
			// An escaped line break joins the next line.
			if !isNL {
				value = append(value, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				value = append(value, c)
			}
		case doubleQuote:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleQuoteEscape
			default:
				value = append(value, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			switch {
			case strings.IndexByte(shellNeedEscape, c) >= 0:
				value = append(value, c)
			case c != '\n':
				// Kept as a shell keeps it: \n is backslash and n.
				value = append(value, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL {
				state = preKey
			}
		case commentEscape:
			// systemd 252: a comment ending in \ goes on over the next
			// line (v254 changed this).
			state = comment
		}
		if c == '\n' {
			line++
		}
	}
	f.end, f.endLine = state, keyLine
	switch state {
	case preValue, inValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		if err := push(len(data), state == inValue); err != nil {
			return nil, err
		}
	case inKey:
		f.Skipped = append(f.Skipped, Skipped{Line: keyLine, Reason: "it has no =: write NAME=value"})
	}
	return f, nil
}

// validName is systemd's env_name_is_valid: letters, digits and _, not
// starting with a digit.
func validName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func skipReason(k string) string {
	if rest, ok := strings.CutPrefix(k, "export"); ok && rest != "" && strings.IndexByte(" \t", rest[0]) >= 0 && validName(strings.TrimLeft(rest, " \t")) {
		return "systemd reads `export NAME` as a name and drops it: remove `export `"
	}
	return "the name before = is not letters, digits and _ (not starting with a digit), so systemd drops the line: fix the name"
}
