package admin

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The throttle follows OWASP's authentication and credential stuffing
// guidance. An attempt is counted in buckets, and any full bucket refuses
// it (429 with Retry-After) before the password is checked:
//
//   - A browser holding a valid device cookie for the email (it logged in as
//     that email before) is counted only in its own device bucket. Nobody
//     else can fill that bucket, so nobody else can lock the admin out.
//   - Every other attempt is counted per email and client (progressive
//     delays, then a lock for the window), per client across all emails
//     (spraying), and per email across all such clients: that last bucket
//     bounds the guesses an account gets in total, however many addresses
//     the attacker has. While it is full, only known browsers get in.
//
// A client is an IPv4 address or an IPv6 /64 (clientip.Bucket), taken from
// X-Forwarded-For only behind TRUSTED_PROXIES. Each attempt is reserved by
// inserting its row before the hash runs, under advisory locks on its
// buckets: concurrent attempts can't all pass a count taken before any of
// them was recorded. A successful login deletes its own row and clears its
// email+client and device buckets.

// Limits are the throttle's bounds. Counts are of failed (or in-flight)
// attempts within Window.
type Limits struct {
	Window         time.Duration
	PerEmailClient int // one email from one client
	PerClient      int // one client, all emails
	PerEmail       int // one email, all clients without its device cookie
	PerDevice      int // one known browser
	// DelayBase is the progressive delay of the email+client and device
	// buckets: after the 2nd failure the next attempt waits DelayBase,
	// then twice that after each further failure. 0 turns delays off.
	DelayBase time.Duration
}

// Default limits.
const (
	Window      = 15 * time.Minute
	MaxPerEmail = 5  // per email and client, and per device
	MaxPerIP    = 20 // per client
	// MaxPerAccount bounds guesses at one email from all unknown browsers.
	MaxPerAccount = 20
)

// DefaultLimits are the limits NewAuth uses.
var DefaultLimits = Limits{Window: Window, PerEmailClient: MaxPerEmail, PerClient: MaxPerIP,
	PerEmail: MaxPerAccount, PerDevice: MaxPerEmail, DelayBase: time.Second}

// RateLimitError is a refusal by the throttle: errors.Is(err, ErrRateLimited).
type RateLimitError struct {
	RetryAfter time.Duration
	bucket     string
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins (%s): try again in %s", e.bucket, roundUp(e.RetryAfter))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// attempt is what the throttle counts.
type attempt struct {
	email  string // normalised; "" for a malformed request
	client string // clientip.Bucket
	device string // device id from a valid device cookie, or ""
	epoch  int64  // the device cookie's epoch, checked against the account's
}

func lockKey(kind, v string) int64 {
	h := fnv.New64a()
	h.Write([]byte("slipway login\x00" + kind + "\x00" + v))
	return int64(h.Sum64())
}

// reserve checks the attempt's buckets and records it, atomically: it
// returns the reserved row's id, or a *RateLimitError. A device cookie
// whose epoch isn't the account's (a password change since) is dropped
// from at: the browser counts as a new one.
func (a *Auth) reserve(ctx context.Context, at *attempt) (id int64, err error) {
	err = a.withDB(ctx, func() error {
		id, err = a.reserveTx(ctx, at)
		return err
	})
	return id, err
}

func (a *Auth) reserveTx(ctx context.Context, at *attempt) (id int64, err error) {
	l := a.limits
	window := interval(l.Window)
	err = pgx.BeginFunc(ctx, a.db, func(tx pgx.Tx) error {
		if at.device != "" {
			var epoch int64
			err := tx.QueryRow(ctx, `SELECT device_epoch FROM users WHERE email = $1`, at.email).Scan(&epoch)
			switch {
			case errors.Is(err, pgx.ErrNoRows) || err == nil && epoch != at.epoch:
				at.device = ""
			case err != nil:
				return err
			}
		}
		keys := []int64{lockKey("device", at.device)}
		if at.device == "" {
			keys = []int64{lockKey("email", at.email), lockKey("client", at.client)}
			if keys[0] > keys[1] { // one order for everyone: no deadlock
				keys[0], keys[1] = keys[1], keys[0]
			}
		}
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, k); err != nil {
				return err
			}
		}
		var now time.Time
		if at.device != "" {
			var n int
			var first, last *time.Time
			if err := tx.QueryRow(ctx, `SELECT count(*), min(at), max(at), now() FROM login_failures
				WHERE device = $1 AND at > now() - $2::interval`, at.device, window).Scan(&n, &first, &last, &now); err != nil {
				return err
			}
			if err := l.check("this browser", n, l.PerDevice, first, last, now, true); err != nil {
				return err
			}
		} else {
			var ec, c, e int
			var ecFirst, ecLast, cFirst, eFirst *time.Time
			if err := tx.QueryRow(ctx, `SELECT
				count(*) FILTER (WHERE email = $1 AND ip = $2), min(at) FILTER (WHERE email = $1 AND ip = $2), max(at) FILTER (WHERE email = $1 AND ip = $2),
				count(*) FILTER (WHERE ip = $2), min(at) FILTER (WHERE ip = $2),
				count(*) FILTER (WHERE email = $1 AND $1 <> ''), min(at) FILTER (WHERE email = $1 AND $1 <> ''),
				now()
				FROM login_failures WHERE at > now() - $3::interval AND device IS NULL AND (email = $1 OR ip = $2)`,
				at.email, at.client, window).Scan(&ec, &ecFirst, &ecLast, &c, &cFirst, &e, &eFirst, &now); err != nil {
				return err
			}
			if err := l.check("your address", c, l.PerClient, cFirst, nil, now, false); err != nil {
				return err
			}
			if at.email != "" { // "" is a malformed request: it counts per client only
				if err := l.check("this email from your address", ec, l.PerEmailClient, ecFirst, ecLast, now, true); err != nil {
					return err
				}
				if err := l.check("this email from browsers it never logged in from", e, l.PerEmail, eFirst, nil, now, false); err != nil {
					return err
				}
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO login_failures (email, ip, device) VALUES ($1, $2, NULLIF($3, '')) RETURNING id`,
			at.email, at.client, at.device).Scan(&id)
	})
	var rl *RateLimitError
	if err != nil && !errors.As(err, &rl) {
		err = fmt.Errorf("check login rate: %w", err)
	}
	return id, err
}

// check refuses when n failures fill max, or, with delays, when the last
// failure is more recent than the progressive delay allows.
func (l Limits) check(bucket string, n, max int, first, last *time.Time, now time.Time, delays bool) error {
	if n >= max && first != nil {
		return &RateLimitError{RetryAfter: first.Add(l.Window).Sub(now), bucket: bucket}
	}
	if delays && l.DelayBase > 0 && n >= 2 && last != nil {
		d := l.DelayBase << min(n-2, 16)
		if wait := last.Add(d).Sub(now); wait > 0 {
			return &RateLimitError{RetryAfter: wait, bucket: bucket}
		}
	}
	return nil
}

// succeeded forgets the attempt and clears its email+client and device
// buckets. The per-email bucket stays: a login doesn't forgive guesses
// made elsewhere.
func (a *Auth) succeeded(ctx context.Context, id int64, at attempt) error {
	return a.withDB(ctx, func() error {
		_, err := a.db.Exec(ctx, `DELETE FROM login_failures WHERE id = $1
			OR (email = $2 AND ip = $3 AND device IS NULL) OR (device = NULLIF($4, ''))`, id, at.email, at.client, at.device)
		return err
	})
}

// unreserve drops a reservation whose password was never checked (no
// hashing slot came free): the attempt doesn't count.
func (a *Auth) unreserve(ctx context.Context, id int64) {
	ctx = context.WithoutCancel(ctx)
	_ = a.withDB(ctx, func() error {
		_, err := a.db.Exec(ctx, `DELETE FROM login_failures WHERE id = $1`, id)
		return err
	})
}

// Malformed counts a request that wasn't a proper login form against its
// client, as a failure with no email: sending junk doesn't buy free tries.
func (a *Auth) Malformed(ctx context.Context, client string) error {
	if _, err := a.reserve(ctx, &attempt{client: client}); err != nil {
		return err
	}
	return nil
}

func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }
