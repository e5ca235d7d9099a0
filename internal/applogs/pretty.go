package applogs

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Pretty is a slog JSON line as a person reads it: `LEVEL msg key=value...`,
// the keys in the order the app wrote them, a group's keys as group.key.
// time is left out: the journal's own time leads the line. ok is false when
// msg isn't a JSON object with a msg (the line is then shown as it is).
func Pretty(msg string) (s string, ok bool) {
	if !strings.HasPrefix(msg, "{") {
		return "", false
	}
	d := json.NewDecoder(strings.NewReader(msg))
	d.UseNumber()
	var kv []string
	var level, text string
	found := false
	if err := walk(d, "", func(key, val string) {
		switch key {
		case "time":
		case "level":
			level = val
		case "msg":
			text, found = val, true
		default:
			kv = append(kv, key+"="+val)
		}
	}); err != nil || !found || d.More() {
		return "", false
	}
	var b strings.Builder
	if level != "" {
		b.WriteString(level + " ")
	}
	b.WriteString(text)
	for _, p := range kv {
		b.WriteString(" " + p)
	}
	return b.String(), true
}

// walk reads one JSON object from d, calling f with each leaf's dotted key
// and its value: strings bare unless they hold spaces, quotes or '=' (then
// quoted), arrays as JSON. The top level's msg and level stay bare.
func walk(d *json.Decoder, prefix string, f func(key, val string)) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errNotObject
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key := prefix + tok.(string)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return err
		}
		switch {
		case len(raw) > 0 && raw[0] == '{':
			if err := walk(json.NewDecoder(bytes.NewReader(raw)), key+".", f); err != nil {
				return err
			}
		case len(raw) > 0 && raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			if prefix != "" || (key != "msg" && key != "level") {
				s = quoteIfNeeded(s)
			}
			f(key, s)
		default:
			f(key, string(raw))
		}
	}
	_, err = d.Token() // the closing }
	return err
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

const errNotObject = jsonError("not a JSON object")

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return strconv.Quote(s)
	}
	return s
}
