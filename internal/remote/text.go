package remote

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxOutput caps what Run keeps of a command's stdout: a server that floods
// us (a huge journal line, a hostile log) must not exhaust our memory.
const MaxOutput = 1 << 20

// truncatedMarker ends output cut at MaxOutput.
var truncatedMarker = fmt.Sprintf("\n[… truncated: more than %d MiB of output]\n", MaxOutput>>20)

// Clean makes text from the server safe to print: a compromised server
// could otherwise retitle, clear or rewrite the operator's terminal (ESC
// sequences, \r overwriting a line, C1 controls) or reorder what it shows
// (bidi overrides). Those come out escaped as \xNN or \uNNNN, as do bytes
// that aren't UTF-8; \n and \t stay as they are. Every piece of remote text
// that may reach a terminal goes through here: Run's output and an
// ExitError's stderr already have.
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return utf8.ValidString(s[i:]) && !strings.ContainsFunc(s[i:], unsafeRune)
		}
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune: C1 controls (0x9b is a one-byte CSI on some terminals) and the
// bidi controls of "Trojan Source".
func unsafeRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || r == 0x061c || r == 0x200e || r == 0x200f ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// capBuffer keeps the first max bytes written to it and notes that more
// came; writes never fail, so the remote command is never blocked.
type capBuffer struct {
	mu    sync.Mutex
	max   int
	b     []byte
	extra bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - len(c.b)
	if len(p) > room {
		c.b = append(c.b, p[:max(room, 0)]...)
		c.extra = true
	} else {
		c.b = append(c.b, p...)
	}
	return len(p), nil
}

// text is what was kept, cleaned, with the truncation marker if needed.
func (c *capBuffer) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := string(c.b)
	if c.extra {
		// Don't leave half a UTF-8 sequence to be escaped.
		for i := 0; i < utf8.UTFMax && len(s) > 0 && !utf8.ValidString(s[max(0, len(s)-utf8.UTFMax):]); i++ {
			s = s[:len(s)-1]
		}
		return Clean(s) + truncatedMarker
	}
	return Clean(s)
}

// cleanError is err with its message cleaned: for errors that quote the
// server (go-scp's), still unwrapping to the original.
type cleanError struct{ err error }

func (e cleanError) Error() string { return Clean(e.err.Error()) }
func (e cleanError) Unwrap() error { return e.err }
