// Package applogs is `go run mage.go logs`: the app instances' journal
// from every host, each line prefixed with its host, merged in time order.
package applogs

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// DefaultLines is how many lines per host logs shows without -n.
const DefaultLines = 50

// Window is how long logs -f holds each line before printing it: lines of
// several hosts then print in journal time order though they arrive apart
// (a host's backlog, a slower link). A line that arrives more than Window
// after one stamped later than it still prints after that one.
const Window = 250 * time.Millisecond

// Options selects the lines.
type Options struct {
	Follow bool
	Lines  int    // per host; 0 is DefaultLines
	Since  string // journalctl --since: "2026-01-02 10:00", "-10min", "today"
	Grep   string // a Go regexp on the message, applied here (journalctl's -g needs PCRE2 on the server)
	// Pretty shows the app's slog JSON lines as `LEVEL msg key=value...`
	// (see Pretty): for a terminal; raw JSON is for programs. -grep sees
	// the raw line either way.
	Pretty bool
	// Job, when set, shows only that job's runs (its unit,
	// <app>-job-<name>.service, on every host) instead of the whole app.
	Job string
}

// jobName is a job's name as the runtime accepts it (app.Job).
var jobName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Host is one server to read, by its alias.
type Host struct {
	Alias string
	Conn  interface {
		StreamRoot(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error
	}
}

// Check refuses bad options before anything connects.
func (o Options) Check() error {
	_, err := o.check()
	return err
}

func (o Options) check() (*regexp.Regexp, error) {
	if o.Lines < 0 {
		return nil, fmt.Errorf("logs -n=%d: use a positive number of lines", o.Lines)
	}
	if o.Job != "" && !jobName.MatchString(o.Job) {
		return nil, fmt.Errorf("logs -job=%q: not a job name (lower-case letters, digits and -, as the app declares it; `go run mage.go jobs` lists them)", o.Job)
	}
	if o.Grep == "" {
		return nil, nil
	}
	re, err := regexp.Compile(o.Grep)
	if err != nil {
		return nil, fmt.Errorf("logs -grep=%q: not a regular expression (Go syntax): %v", o.Grep, err)
	}
	return re, nil
}

// Command is journalctl as root on the server, one JSON object per line:
// what every instance wrote (and the old layout's service).
//
// Matched by the instances' slice (system-app.slice; system-my\x2dapp.slice
// for my-app, as systemd escapes it), not `-u app@*`:
// journalctl expands a unit glob once, against the units known when it
// starts, so `logs -f` would miss the release a deploy starts meanwhile.
// Jobs and workers run in that slice too; with Options.Job, only that
// job's unit.
func Command(c service.Config, o Options) string {
	words := []string{"journalctl", "--no-pager", "-o", "json", "-n", strconv.Itoa(cmp.Or(o.Lines, DefaultLines))}
	if o.Since != "" {
		words = append(words, "--since", o.Since)
	}
	if o.Follow {
		words = append(words, "-f")
	}
	if o.Job != "" {
		words = append(words, "_SYSTEMD_UNIT="+helper.JobUnit(c.AppName, o.Job))
		return remote.QuoteAll(words)
	}
	words = append(words, "_SYSTEMD_SLICE="+helper.AppSlice(c.AppName), "+", "_SYSTEMD_UNIT="+c.ServiceUnit())
	return remote.QuoteAll(words)
}

// Line is one journal entry.
type Line struct {
	host int // position in the hosts given: orders lines of one instant
	Host string
	Time time.Time
	Unit string
	Text string
}

func (l Line) String() string {
	return fmt.Sprintf("%s %s %s: %s", l.Host, l.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), l.Unit, l.Text)
}

// format is l as printed: pretty (Pretty) when asked and the message is
// slog JSON.
func (l Line) format(pretty bool) string {
	if pretty {
		if p, ok := Pretty(l.Text); ok {
			l.Text = remote.Clean(p)
		}
	}
	return l.String()
}

func before(a, b Line) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.host, b.host)) }

// entry is what `journalctl -o json` writes per line. MESSAGE is a string,
// or an array of bytes when it isn't UTF-8.
type entry struct {
	Realtime string          `json:"__REALTIME_TIMESTAMP"` // microseconds since the epoch
	Unit     string          `json:"_SYSTEMD_UNIT"`
	Message  json.RawMessage `json:"MESSAGE"`
}

func parse(host string, pos int, raw string) (Line, bool) {
	var e entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Line{}, false
	}
	us, err := strconv.ParseInt(e.Realtime, 10, 64)
	if err != nil {
		return Line{}, false
	}
	var msg string
	if err := json.Unmarshal(e.Message, &msg); err != nil {
		var b []byte
		var ints []int
		if json.Unmarshal(e.Message, &ints) == nil {
			for _, i := range ints {
				b = append(b, byte(i))
			}
		}
		msg = string(b)
	}
	// The server's text, decoded from JSON: clean it again (\u001b is ESC).
	return Line{host: pos, Host: host, Time: time.UnixMicro(us), Unit: remote.Clean(e.Unit), Text: remote.Clean(msg)}, true
}

// Run prints the lines of every host to w. Without Follow they are merged
// in time order once every host answered; with Follow each is held for
// Window and printed in time order, until ctx ends (Ctrl-C), which ends
// the remote readers.
func Run(ctx context.Context, hosts []Host, c service.Config, o Options, w io.Writer) error {
	re, err := o.check()
	if err != nil {
		return err
	}
	cmd := Command(c, o)
	var (
		mu    sync.Mutex
		queue lineHeap
		wg    sync.WaitGroup
		errs  = make([]error, len(hosts))
	)
	// flush prints, in time order, the held lines up to the first one not
	// due at now; all of them when now is zero.
	flush := func(now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for queue.Len() > 0 && (now.IsZero() || !now.Before(queue[0].due)) {
			fmt.Fprintln(w, heap.Pop(&queue).(held).Line.format(o.Pretty))
		}
	}
	seq := 0
	emit := func(l Line) {
		if re != nil && !re.MatchString(l.Text) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		seq++
		heap.Push(&queue, held{Line: l, due: time.Now().Add(Window), seq: seq})
	}
	for i, h := range hosts {
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), remote.MaxOutput)
			for sc.Scan() {
				if l, ok := parse(h.Alias, i, sc.Text()); ok {
					emit(l)
				}
			}
			_, _ = io.Copy(io.Discard, pr)
		}()
		go func() {
			defer wg.Done()
			var stderr strings.Builder
			err := h.Conn.StreamRoot(ctx, cmd, nil, pw, &stderr)
			pw.Close()
			if err != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("%s: journalctl: %v %s", h.Alias, err, strings.TrimSpace(stderr.String()))
			}
		}()
	}
	if o.Follow {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(Window / 5)
			defer t.Stop()
			for {
				select {
				case now := <-t.C:
					flush(now)
				case <-stop:
					return
				}
			}
		}()
	}
	wg.Wait()
	flush(time.Time{})
	return errors.Join(errs...)
}

// held is a line waiting for its turn: printed once due.
type held struct {
	Line
	due time.Time
	seq int // arrival: keeps a host's lines of one instant in order
}

// lineHeap holds lines, earliest (before, then arrival) on top.
type lineHeap []held

func (h lineHeap) Len() int { return len(h) }
func (h lineHeap) Less(i, j int) bool {
	return cmp.Or(before(h[i].Line, h[j].Line), cmp.Compare(h[i].seq, h[j].seq)) < 0
}
func (h lineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *lineHeap) Push(x any)   { *h = append(*h, x.(held)) }
func (h *lineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
