// Package applogs is `go run mage.go logs`: the app instances' journal
// from every host, each line prefixed with its host, merged in time order.
package applogs

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// DefaultLines is how many lines per host logs shows without -n.
const DefaultLines = 50

// Options selects the lines.
type Options struct {
	Follow bool
	Lines  int    // per host; 0 is DefaultLines
	Since  string // journalctl --since: "2026-01-02 10:00", "-10min", "today"
	Grep   string // a Go regexp on the message, applied here (journalctl's -g needs PCRE2 on the server)
}

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
// Matched by the instances' slice (system-app.slice), not `-u app@*`:
// journalctl expands a unit glob once, against the units known when it
// starts, so `logs -f` would miss the release a deploy starts meanwhile.
func Command(c service.Config, o Options) string {
	words := []string{"journalctl", "--no-pager", "-o", "json", "-n", strconv.Itoa(cmp.Or(o.Lines, DefaultLines))}
	if o.Since != "" {
		words = append(words, "--since", o.Since)
	}
	if o.Follow {
		words = append(words, "-f")
	}
	words = append(words, "_SYSTEMD_SLICE=system-"+c.AppName+".slice", "+", "_SYSTEMD_UNIT="+c.ServiceUnit())
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
// in time order once every host answered; with Follow they are printed as
// they arrive, until ctx ends (Ctrl-C), which ends the remote readers.
func Run(ctx context.Context, hosts []Host, c service.Config, o Options, w io.Writer) error {
	re, err := o.check()
	if err != nil {
		return err
	}
	cmd := Command(c, o)
	var (
		mu    sync.Mutex
		lines []Line
		wg    sync.WaitGroup
		errs  = make([]error, len(hosts))
	)
	emit := func(l Line) {
		if re != nil && !re.MatchString(l.Text) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if o.Follow {
			fmt.Fprintln(w, l)
			return
		}
		lines = append(lines, l)
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
	wg.Wait()
	slices.SortStableFunc(lines, func(a, b Line) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.host, b.host)) })
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return errors.Join(errs...)
}
