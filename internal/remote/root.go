package remote

import (
	"fmt"
	"strings"
)

// rootCommand is cmd as the SSH user sends it to run as root: as it is
// for root, else behind `sudo -n --`, which runs the command itself, no
// shell between (sudo must not ask for a password: -n fails instead). So
// cmd must be one command, its words quoted as QuoteAll quotes them: a
// list, pipe or redirection would run partly as the SSH user, and is
// refused.
func rootCommand(user, cmd string) (string, error) {
	words, err := splitWords(cmd)
	if err != nil {
		return "", err
	}
	if user == "root" {
		return cmd, nil
	}
	return QuoteAll(append([]string{"sudo", "-n", "--"}, words...)), nil
}

// safeWord are the bytes Quote leaves unquoted.
const safeWord = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,"

// splitWords reverses QuoteAll: the words of cmd, which holds nothing but
// words as Quote writes them (bare safe bytes, '...' and \'), separated by
// spaces. Anything else a shell would read as more than words (; | & $ >
// a newline ...) is refused in one line.
func splitWords(cmd string) ([]string, error) {
	var (
		words []string
		w     strings.Builder
		in    bool // a word has begun
	)
	for i := 0; i < len(cmd); i++ {
		switch b := cmd[i]; {
		case b == ' ':
			if in {
				words, in = append(words, w.String()), false
				w.Reset()
			}
		case b == '\'':
			end := strings.IndexByte(cmd[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("remote command %q: unterminated quote: quote its words with remote.QuoteAll", summary(cmd))
			}
			w.WriteString(cmd[i+1 : i+1+end])
			i, in = i+1+end, true
		case b == '\\' && i+1 < len(cmd) && cmd[i+1] == '\'':
			w.WriteByte('\'')
			i, in = i+1, true
		case strings.IndexByte(safeWord, b) >= 0:
			w.WriteByte(b)
			in = true
		default:
			return nil, fmt.Errorf("remote command %q: %q outside quotes: it must be one command, its words quoted with remote.QuoteAll (no shell runs it)", summary(cmd), b)
		}
	}
	if in {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("remote command %q: no command", cmd)
	}
	return words, nil
}
