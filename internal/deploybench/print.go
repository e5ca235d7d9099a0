package deploybench

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Print writes the comparison: one row per flow, then their ratios, then
// the most frequent reasons requests failed.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "benchDeploy: a %s binary; both flows on one sandbox, in this run\n", size(r.BinarySize))
	fmt.Fprintf(w, "  cold: a binary the server has not seen; unchanged: the same binary again (medians of %d; wall time until it answers /readyz)\n", r.Runs)
	fmt.Fprintf(w, "  under load: %d deploys, a new binary each, with %d requests/s on GET /readyz (keep-alive)\n\n", r.Deploys, r.Rate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "flow\tcold\tunchanged\tbinary sent (cold / unchanged)\tsent to sshd (cold / unchanged)\trequests\tfailed\tp50\tp99")
	for _, row := range []struct {
		name string
		f    Flow
	}{
		{"Slipway deploy", r.Slipway},
		{"seed: ssh stop, scp, ssh start", r.Seed},
	} {
		f := row.f
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s / %s\t%s / %s\t%d\t%d\t%s\t%s\n", row.name,
			dur(f.Cold), dur(f.Unchanged), size(f.ColdBinary), size(f.UnchangedBinary),
			size(f.ColdSSH), size(f.UnchangedSSH), f.Load.Sent, f.Load.Failed, dur(f.Load.P50), dur(f.Load.P99))
	}
	s, b := r.Slipway, r.Seed
	fmt.Fprintf(tw, "ratio Slipway / seed\t%s\t%s\t%s / %s\t%s / %s\t%s\t%s\t%s\t%s\n",
		ratio(s.Cold, b.Cold), ratio(s.Unchanged, b.Unchanged),
		ratio(s.ColdBinary, b.ColdBinary), ratio(s.UnchangedBinary, b.UnchangedBinary),
		ratio(s.ColdSSH, b.ColdSSH), ratio(s.UnchangedSSH, b.UnchangedSSH),
		ratio(s.Load.Sent, b.Load.Sent), ratio(s.Load.Failed, b.Load.Failed),
		ratio(s.Load.P50, b.Load.P50), ratio(s.Load.P99, b.Load.P99))
	tw.Flush()
	for _, row := range []struct {
		name string
		f    Flow
	}{{"Slipway", r.Slipway}, {"seed", r.Seed}} {
		errs := row.f.Load.Errors
		msgs := slices.SortedFunc(maps.Keys(errs), func(a, b string) int { return cmp.Or(cmp.Compare(errs[b], errs[a]), cmp.Compare(a, b)) })
		for i, msg := range msgs {
			if i == 3 {
				fmt.Fprintf(w, "  %s: %d more kinds of failure\n", row.name, len(msgs)-i)
				break
			}
			fmt.Fprintf(w, "  %s failed: %d× %s\n", row.name, errs[msg], msg)
		}
	}
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Microsecond).String()
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// ratio is a/b with two decimals, "-" when b is 0.
func ratio[T int | int64 | time.Duration](a, b T) string {
	if b == 0 {
		return "-"
	}
	q := float64(a) / float64(b)
	if q != 0 && q < 0.01 {
		return fmt.Sprintf("%.4f", q)
	}
	return fmt.Sprintf("%.2f", q)
}
