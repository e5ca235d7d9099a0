package deploy

import (
	"strings"
	"time"
)

// readyAt is when the handover's new instance was ready to serve, on this
// machine's clock: the handover was called at called and returned at
// returned; its "is ready" step carries the seconds since the server
// began it ("[0.5s] app@<id>.service is ready: ..."). Ready, the instance
// takes connections at once, while the server still stops the old one:
// the rest of the handover, the prune and the lock's release are not the
// user's wait for the new release. Without that step (an older server):
// returned.
func readyAt(called, returned time.Time, steps []string) time.Time {
	for _, s := range steps {
		if !strings.Contains(s, " is ready") {
			continue
		}
		in, rest, ok := strings.Cut(strings.TrimPrefix(s, "["), "]")
		if !ok || !strings.HasPrefix(s, "[") || !strings.HasPrefix(rest, " ") {
			continue
		}
		d, err := time.ParseDuration(in)
		if err != nil || d < 0 {
			continue
		}
		// The server's offset counts from after the call reached it: it
		// can't exceed the call.
		if t := called.Add(d); t.Before(returned) {
			return t
		}
		return returned
	}
	return returned
}

// deployedIn is what "deployed in" prints: from start (the user's command)
// to the last host's release serving, or to now when none changed.
func deployedIn(start time.Time, results []Result, now time.Time) time.Duration {
	end := now
	for _, r := range results {
		if !r.Serving.IsZero() {
			end = r.Serving
		}
	}
	return end.Sub(start).Round(100 * time.Millisecond)
}
