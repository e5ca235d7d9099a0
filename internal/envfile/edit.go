package envfile

import (
	"bytes"
	"fmt"
	"maps"
)

// Apply returns the file's text with ch made: for a set, the first
// assignment of the key replaced in place by KEY=Encode(value) and any
// later one removed (systemd lets the last one win), or KEY=... appended
// when there is none; for an unset, every assignment of the key removed.
// Everything else stays byte for byte. changed is false when systemd
// already reads the file so (the value set, or the key absent): the
// caller then writes nothing. The result is parsed again and must give
// the same environment with only ch applied, or Apply refuses.
func (f *File) Apply(ch Change) (text []byte, changed bool, err error) {
	if v, ok := f.Lookup(ch.Key); ch.Unset && !ok || !ch.Unset && ok && v == ch.Value {
		return f.data, false, nil
	}
	line := []byte(ch.Key + "=" + Encode(ch.Value) + "\n")
	var b bytes.Buffer
	at, done := 0, false
	for _, a := range f.Assignments {
		if a.Key != ch.Key {
			continue
		}
		b.Write(f.data[at:a.Start])
		if !ch.Unset && !done {
			b.Write(line)
			done = true
		}
		at = a.End
	}
	b.Write(f.data[at:])
	if !ch.Unset && !done {
		sep, err := f.tail()
		if err != nil {
			return nil, false, err
		}
		b.WriteString(sep)
		b.Write(line)
	}
	if err := f.check(b.Bytes(), ch); err != nil {
		return nil, false, err
	}
	return b.Bytes(), true, nil
}

// tail is what must follow the file's text before a new line is appended
// so that the line reads as a line of its own.
func (f *File) tail() (string, error) {
	switch f.end {
	case preKey:
		if len(f.data) == 0 || f.data[len(f.data)-1] == '\n' {
			return "", nil
		}
		return "\n", nil
	case commentEscape, valueEscape:
		// The first line break is eaten by the escape.
		return "\n\n", nil
	case singleQuote, doubleQuote, doubleQuoteEscape:
		return "", fmt.Errorf("the quote opened on line %d is never closed, so systemd reads the rest of the file into that value: close it (sudoedit the file), then run this again", f.endLine)
	}
	return "\n", nil
}

// check parses text and compares its environment with the file's, ch
// applied.
func (f *File) check(text []byte, ch Change) error {
	after, err := Parse(text)
	if err != nil {
		return fmt.Errorf("the edited file would not read back: %w", err)
	}
	want := env(f)
	if ch.Unset {
		delete(want, ch.Key)
	} else {
		want[ch.Key] = ch.Value
	}
	if !maps.Equal(env(after), want) {
		return fmt.Errorf("the edited file would not read back as the same settings with only %s changed: set it by hand (sudoedit the file)", ch.Key)
	}
	return nil
}

func env(f *File) map[string]string {
	m := map[string]string{}
	for _, v := range f.Vars() {
		m[v.Key] = v.Value
	}
	return m
}
