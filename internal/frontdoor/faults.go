package frontdoor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// logLine is the part of Caddy's JSON log lines that tells an ACME failure.
type logLine struct {
	Level string `json:"level"`
	// TS is when Caddy logged it (seconds since the epoch).
	TS         float64 `json:"ts"`
	Msg        string  `json:"msg"`
	Identifier string  `json:"identifier"`
	// Issuer is the CA's key, e.g. acme-v02.api.letsencrypt.org-directory
	// (a port's colon kept).
	Issuer string `json:"issuer"`
	Error  string `json:"error"`
	// ProblemType is the ACME problem of a failed challenge, e.g.
	// urn:ietf:params:acme:error:connection.
	ProblemType string `json:"problem_type"`
}

// caddyFault reads Caddy's log since the given time and returns the
// first domain of missing Caddy gave up on, and the CA's reason: "" while
// Caddy has not given up on its first round with the CA (it tries each
// challenge type before it logs "could not get certificate from issuer").
func caddyFault(ctx context.Context, r Runner, missing []string, since float64) (domain, why string, err error) {
	out, err := r.RunRoot(ctx, fmt.Sprintf("journalctl -u caddy --since @%d --no-pager -o cat", int64(since)), nil)
	if err != nil {
		return "", "", fmt.Errorf("https: read Caddy's log: %w: %s", err, bytes.TrimSpace(out))
	}
	domain, why = faultIn(out, missing, since)
	return domain, why, nil
}

// gaveUp is the message of Caddy's log line for an order or a renewal it
// gave up on (for now: it retries later).
const gaveUp = "could not get certificate from issuer"

// errorLines yields Caddy's error lines in log (its JSON lines) about one
// of domains, logged from the time since on.
func errorLines(log []byte, domains []string, since float64) iter.Seq[logLine] {
	return func(yield func(logLine) bool) {
		sc := bufio.NewScanner(bytes.NewReader(log))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Level != "error" || l.TS < since || !slices.Contains(domains, l.Identifier) {
				continue
			}
			if !yield(l) {
				return
			}
		}
	}
}

// faultIn finds the first domain of missing Caddy gave up on in log (its
// JSON lines) from the time since on, and its CA's answer.
func faultIn(log []byte, missing []string, since float64) (domain, why string) {
	last := map[string]string{} // the last challenge problem per domain
	for l := range errorLines(log, missing, since) {
		switch l.Msg {
		case "challenge failed", "validating authorization":
			// The CA's own words on a validation: more telling than the
			// summary Caddy gives up with ("no solvers available").
			last[l.Identifier] = strings.TrimSpace(l.ProblemType + " " + l.Error)
		case gaveUp:
			why := l.Error
			if p := last[l.Identifier]; p != "" {
				why = p
			}
			return l.Identifier, why
		}
	}
	return "", ""
}

// Classify turns a CA's reason (an ACME problem, as Caddy logged it) for
// refusing domain into one line naming the fault and its fix.
func Classify(domain, why string) string {
	w := strings.ToLower(why)
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(s string) bool { return strings.Contains(w, s) })
	}
	said := "the CA said: " + oneLine(why)
	switch {
	case has("nxdomain", "no such host", "dns problem", "no valid a records", "no valid ip addresses", "servfail", "could not resolve", ":error:dns"):
		return fmt.Sprintf("%s does not resolve to this server: point its A (and AAAA) record at the server and wait for DNS (%s)", domain, said)
	case has("timeout during connect", "failed to connect", "connection refused", "i/o timeout", "connection reset", "no route to host", "network is unreachable", "timeout", ":error:connection"):
		return fmt.Sprintf("ports 80/443 of %s are not reachable from the internet: open them in the server's and the provider's firewall (%s)", domain, said)
	case has(":error:unauthorized", "invalid response", "incorrect validation certificate"):
		return fmt.Sprintf("%s reaches another server than this one: point its A (and AAAA) record at this server (%s)", domain, said)
	default:
		return fmt.Sprintf("the CA refused a certificate for %s: %s", domain, oneLine(why))
	}
}

// oneLine keeps a CA's message to one bounded line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
