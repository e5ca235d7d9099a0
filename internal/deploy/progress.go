package deploy

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress draws the upload: a bar redrawn in place on a terminal, or a
// plain line at each quarter for logs and CI.
type progress struct {
	w        io.Writer
	bar      bool
	start    time.Time
	quarters int
}

func newProgress(o Options) *progress {
	bar := false
	if o.Progress != nil {
		bar = *o.Progress
	} else if f, ok := o.Stdout.(*os.File); ok {
		bar = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: o.Stdout, bar: bar, start: time.Now()}
}

func (p *progress) update(sent, total int64) {
	if total <= 0 {
		return
	}
	frac := float64(sent) / float64(total)
	rate := float64(sent) / (1 << 20) / max(time.Since(p.start).Seconds(), 1e-3)
	if p.bar {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(p.w, "\r  upload [%s%s] %3.0f%% %5.1f/%.1f MiB %6.1f MiB/s",
			strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, mib(sent), mib(total), rate)
		if sent == total {
			fmt.Fprintln(p.w)
		}
		return
	}
	for q := p.quarters + 1; q <= 4 && frac >= float64(q)/4; q++ {
		p.quarters = q
		fmt.Fprintf(p.w, "  upload %3d%% %.1f/%.1f MiB (%.1f MiB/s)\n", q*25, mib(sent), mib(total), rate)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
