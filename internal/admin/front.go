package admin

import (
	"sync"
	"time"
)

// The front limiter counts login posts in memory, before any database
// work: a flood of them (thousands a second, from as many addresses) costs
// a map lookup each, never a pool connection or an advisory lock. The
// throttle in PostgreSQL (throttle.go) stays the authority on guesses; the
// front only decides what may ask it.
//
//   - Every post counts against its client (clientip.Bucket, as
//     TRUSTED_PROXIES resolves it), garbage included: a client that sent
//     junk has used up its tries.
//   - A well-formed post from a browser without a valid device cookie also
//     takes a token from one global bucket, so all addresses together can't
//     make the database check more than its rate.
//   - A known browser (a device cookie signed for the form's email) counts
//     only in its own bucket: neither a flood's addresses nor the global cap
//     can keep the admin out of a browser they logged in from before.

// Rate is a token bucket: Burst posts at once, then one more every Every.
// Every <= 0 never refills.
type Rate struct {
	Burst int
	Every time.Duration
}

// FrontLimits are the front limiter's bounds.
type FrontLimits struct {
	PerClient Rate // every login post of one client
	PerDevice Rate // posts from one known browser
	Global    Rate // well-formed posts from browsers that never logged in, all clients together
	// MaxKeys bounds the clients and devices remembered at once (about
	// 100 bytes each); past it, the idle ones are forgotten, or all.
	MaxKeys int
}

// DefaultFrontLimits: a person logs in a few times a day, so a client's
// 20 posts at once and one more every 15 s never stop one; a global 50 a
// second is far above any real traffic and far below what the database
// takes.
var DefaultFrontLimits = FrontLimits{
	PerClient: Rate{Burst: MaxPerIP, Every: 15 * time.Second},
	PerDevice: Rate{Burst: MaxPerIP, Every: 15 * time.Second},
	Global:    Rate{Burst: 100, Every: 20 * time.Millisecond},
	MaxKeys:   50_000,
}

type bucket struct {
	r      Rate
	tokens float64
	at     time.Time
}

// refill brings b to now; a new bucket starts full.
func (b *bucket) refill(now time.Time) {
	r := b.r
	if b.at.IsZero() {
		b.tokens, b.at = float64(r.Burst), now
		return
	}
	if r.Every > 0 {
		b.tokens = min(float64(r.Burst), b.tokens+float64(now.Sub(b.at))/float64(r.Every))
	}
	b.at = now
}

// take spends a token, or says how long until there is one.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	r := b.r
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if r.Every <= 0 {
		return false, Window
	}
	return false, time.Duration((1 - b.tokens) * float64(r.Every))
}

type front struct {
	l      FrontLimits
	mu     sync.Mutex
	keys   map[string]*bucket
	global bucket
}

func newFront(l FrontLimits) *front {
	if l == (FrontLimits{}) {
		l = DefaultFrontLimits
	}
	return &front{l: l, keys: map[string]*bucket{}, global: bucket{r: l.Global}}
}

// bucketFor returns the bucket of key, making room when the map is full:
// first by forgetting buckets that refilled (they hold nothing a new one
// wouldn't), and if that frees too little, by forgetting every bucket. The
// database's throttle still counts every guess, so forgetting costs only
// the front's precision, never the bound on guesses.
func (f *front) bucketFor(key string, r Rate, now time.Time) *bucket {
	if b, ok := f.keys[key]; ok {
		return b
	}
	if len(f.keys) >= f.l.MaxKeys {
		for k, b := range f.keys {
			if b.refill(now); b.tokens >= float64(b.r.Burst) {
				delete(f.keys, k)
			}
		}
		if len(f.keys) > f.l.MaxKeys*3/4 {
			clear(f.keys)
		}
	}
	b := &bucket{r: r}
	f.keys[key] = b
	return b
}

// garbage counts a post that wasn't a login (wrong content type, too large,
// no valid CSRF token) against its client. It is refused anyway; what it
// costs the client is its later tries.
func (f *front) garbage(client string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bucketFor("client "+client, f.l.PerClient, now).take(now)
}

// allow decides whether a well-formed post may reach the database: a known
// browser (device != "") by its own bucket only, anyone else by the
// client's bucket and then the global one. The refusal is a
// *RateLimitError (429), or ErrBusy (503) from the global cap.
func (f *front) allow(client, device string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if device != "" {
		if ok, wait := f.bucketFor("device "+device, f.l.PerDevice, now).take(now); !ok {
			return &RateLimitError{RetryAfter: wait, bucket: "this browser"}
		}
		return nil
	}
	if ok, wait := f.bucketFor("client "+client, f.l.PerClient, now).take(now); !ok {
		return &RateLimitError{RetryAfter: wait, bucket: "your address"}
	}
	if ok, _ := f.global.take(now); !ok {
		return ErrBusy
	}
	return nil
}
