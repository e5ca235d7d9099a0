package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Table is what every benchmark prints: a title, lines explaining the
// set-up, one header, rows of cells, then notes (failures, ratios against
// the goal). Cells are aligned in columns; "" prints as "-".
type Table struct {
	Title  string
	About  []string
	Header []string
	Rows   [][]string
	Notes  []string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.Rows = append(t.Rows, cells) }

// Note appends a line printed after the rows.
func (t *Table) Note(format string, args ...any) {
	t.Notes = append(t.Notes, fmt.Sprintf(format, args...))
}

// Print writes the table to w.
func (t Table) Print(w io.Writer) {
	fmt.Fprintln(w, t.Title)
	for _, line := range t.About {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []string) {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = c
			if c == "" && i > 0 {
				out[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(out, "\t"))
	}
	line(t.Header)
	for _, r := range t.Rows {
		line(r)
	}
	tw.Flush()
	for _, n := range t.Notes {
		fmt.Fprintln(w, n)
	}
}

// Dur formats a duration with the precision that matters at its scale.
func Dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Microsecond).String()
	}
}

// Size formats a byte count in B, KiB or MiB.
func Size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// Ratio is a/b as "0.85x" (four decimals below 0.01), "-" when b is 0.
func Ratio[T number](a, b T) string {
	if b == 0 {
		return "-"
	}
	q := float64(a) / float64(b)
	if q != 0 && q < 0.01 {
		return fmt.Sprintf("%.4fx", q)
	}
	return fmt.Sprintf("%.2fx", q)
}
