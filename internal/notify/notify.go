// Package notify posts a JSON message about each deploy and rollback to a
// webhook (DEPLOY_NOTIFY_URL): a Slack or Discord incoming webhook works
// as is, through the message's text field.
//
// A notification never changes a deploy: it is sent after the outcome is
// known, retried briefly, and its failure is a warning line.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Event is the JSON body posted. Its field names are a stable interface
// (docs/deploy.md): add fields, never rename or remove one.
type Event struct {
	// Text is a one-line summary: what Slack and Discord show.
	Text string `json:"text"`
	// Kind is "deploy" or "rollback" from the deploying machine; "job",
	// "worker", "backup", "archive", "verify" or "unit" from the server
	// itself (a unit that failed).
	Kind    string `json:"kind"`
	Host    string `json:"host"`    // the ssh alias (the server's hostname from the server)
	Outcome string `json:"outcome"` // ok, unchanged, rolled-back (automatic rollback) or failed
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Release string `json:"release"`
	// Duration is the wall time since the command started, in seconds.
	Duration float64 `json:"duration_seconds"`
	Who      string  `json:"who"`
	Cause    string  `json:"cause,omitempty"` // the error, when the outcome is not ok
}

// Defaults bound how long a notification may take: Attempts tries of at
// most Timeout each, Backoff apart (doubling).
const (
	DefaultAttempts = 3
	DefaultTimeout  = 5 * time.Second
	DefaultBackoff  = 500 * time.Millisecond
)

// MaxCause caps the cause posted, which is only the error's first line:
// the reason. What follows it (a not-ready release's journal lines) may
// hold the app's data, and a webhook is a third party.
const MaxCause = 500

// Notifier posts events to one URL. The URL is a secret (a Slack webhook's
// path is its credential): only its scheme and host are ever printed.
type Notifier struct {
	url      string
	Attempts int
	Timeout  time.Duration
	Backoff  time.Duration
	Client   *http.Client

	wg       sync.WaitGroup
	mu       sync.Mutex
	warnings []string
}

// New checks raw (an https URL, or http to this machine's loopback) and
// returns its notifier; errors never quote raw.
func New(raw string) (*Notifier, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("DEPLOY_NOTIFY_URL is not an https URL with a host: set it to your webhook's URL, e.g. https://hooks.slack.com/services/<your webhook>")
	}
	// Over plain http the body and the URL's path, the webhook's
	// credential, cross the network readable by anyone on the way.
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, errors.New("DEPLOY_NOTIFY_URL uses http: use the webhook's https URL (plain http is allowed only to localhost)")
	}
	return &Notifier{url: raw, Attempts: DefaultAttempts, Timeout: DefaultTimeout, Backoff: DefaultBackoff}, nil
}

func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errRedirect is a redirect refused: followed, it would hand the body to
// another host (a 307 resends it) or drop https.
var errRedirect = errors.New("redirects to another host (not followed: set DEPLOY_NOTIFY_URL to where it points, if you trust it)")

// sameHost is the client's CheckRedirect: a redirect stays on the
// webhook's scheme and host, at most a few hops.
func sameHost(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) >= 5 || req.URL.Host != first.Host || (req.URL.Scheme != first.Scheme && req.URL.Scheme != "https") {
		return errRedirect
	}
	return nil
}

// URL is the whole URL, the secret: only for handing it to the server's
// settings (service.SyncSettings sends it on the helper's stdin), never to
// print.
func (n *Notifier) URL() string { return n.url }

// Where is the URL's scheme and host: what may be shown of it.
func (n *Notifier) Where() string {
	u, _ := url.Parse(n.url)
	return u.Scheme + "://" + u.Host
}

// Go posts e in the background, so the next host's deploy doesn't wait on
// a slow endpoint; Wait collects the outcome. A nil Notifier sends nothing.
func (n *Notifier) Go(ctx context.Context, e Event) {
	if n == nil {
		return
	}
	// Ctrl-C on a deploy must not swallow the message about how it ended;
	// Attempts × Timeout bounds it instead.
	ctx = context.WithoutCancel(ctx)
	n.wg.Go(func() {
		if err := n.Send(ctx, e); err != nil {
			n.mu.Lock()
			n.warnings = append(n.warnings, err.Error())
			n.mu.Unlock()
		}
	})
}

// Wait returns once every notification started by Go ended, with why
// those that failed were not delivered.
func (n *Notifier) Wait() []string {
	if n == nil {
		return nil
	}
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.warnings
	n.warnings = nil
	return w
}

// Send posts e, retrying a network error, a 429 or a 5xx answer.
func (n *Notifier) Send(ctx context.Context, e Event) error {
	e.Cause, _, _ = strings.Cut(e.Cause, "\n")
	if len(e.Cause) > MaxCause {
		e.Cause = strings.ToValidUTF8(e.Cause[:MaxCause], "") + " [… truncated]"
	}
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	client := &http.Client{}
	if n.Client != nil {
		c := *n.Client
		client = &c
	}
	client.CheckRedirect = sameHost
	attempts := max(n.Attempts, 1)
	wait := n.Backoff
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return n.fail(ctx.Err(), i)
			case <-time.After(wait):
			}
			wait *= 2
		}
		var retry bool
		retry, last = n.post(ctx, client, body)
		if last == nil {
			return nil
		}
		if !retry {
			return n.fail(last, i+1)
		}
	}
	return n.fail(last, attempts)
}

func (n *Notifier) fail(err error, tries int) error {
	return fmt.Errorf("notification to %s not delivered after %d attempt(s): %v (the deploy itself is unaffected)", n.Where(), tries, err)
}

// post sends one attempt; retry says whether another may succeed.
func (n *Notifier) post(ctx context.Context, client *http.Client, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("bad request") // New checked the URL: unreachable
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-deploy")
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, errRedirect) {
			return false, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", n.Timeout)
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}

// Summary is Event.Text: one line a chat shows.
func Summary(e Event) string {
	what := e.Version
	if e.Commit != "" && !strings.HasPrefix(e.Version, shortCommit(e.Commit)) {
		what += " (commit " + shortCommit(e.Commit) + ")"
	}
	if strings.TrimSpace(what) == "" {
		what = "an unknown version"
	}
	s := fmt.Sprintf("%s of %s to %s by %s: %s in %.1fs", e.Kind, strings.TrimSpace(what), e.Host, e.Who, e.Outcome, e.Duration)
	if e.Release != "" {
		s += ", release " + e.Release
	}
	if e.Cause != "" {
		first, _, _ := strings.Cut(e.Cause, "\n")
		s += ": " + first
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
