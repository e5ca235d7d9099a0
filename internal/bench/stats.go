package bench

import (
	"slices"
	"time"
)

// number is what the statistics work on: durations and byte counts.
// (Latency percentiles are load.Result's.)
type number interface {
	~int | ~int64
}

// Median is the middle value of s, the mean of the two middle ones when
// len(s) is even, and 0 for none. s is not modified.
func Median[T number](s []T) T {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(s))
	n := len(sorted)
	if n%2 == 0 {
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return sorted[n/2]
}

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}
