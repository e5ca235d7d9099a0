// Package admin is the admin area: log in with email and password, a
// session stored in PostgreSQL, and a page showing what runs.
package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slipway-dev/slipway/internal/password"
	"github.com/slipway-dev/slipway/internal/users"
)

// Errors of Login.
var (
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrRateLimited matches every *RateLimitError.
	ErrRateLimited = errors.New("too many failed logins")
)

// DefaultSession is how long a session lasts.
const DefaultSession = 12 * time.Hour

// AuthOptions tunes NewAuth; the zero value means the defaults.
type AuthOptions struct {
	Limits Limits // zero: DefaultLimits
	Gate   *Gate  // nil: NewGate(DefaultHashConcurrency, DefaultHashWait)
	// KnownGate is for browsers with a valid device cookie, so a flood from
	// everyone else, which can fill Gate, can't keep a known admin out.
	// nil: NewGate(1, DefaultHashWait).
	KnownGate *Gate
	// DBConns is how many of the pool's connections the admin area may
	// hold at once; 0 is all but one of the pool's (at least 1), so no
	// login traffic can take the connection /readyz and the rest of the
	// app need.
	DBConns int
}

// Auth checks credentials and keeps sessions.
type Auth struct {
	db     *pgxpool.Pool
	users  *users.Store
	hasher *password.Hasher
	ttl    time.Duration
	limits Limits
	gate   *Gate
	known  *Gate
	// conns bounds the pool connections the admin area holds (DBConns).
	conns  *Gate
	csrf   signer
	device signer
	// dummy is verified when the email is unknown, so a wrong email costs
	// the same time as a wrong password and doesn't reveal which accounts exist.
	dummy string
}

// NewAuth returns an Auth; hasher carries the pepper, from which the keys
// of the CSRF tokens and device cookies are derived.
func NewAuth(db *pgxpool.Pool, hasher *password.Hasher, o AuthOptions) (*Auth, error) {
	dummy, err := hasher.Hash("dummy password for timing")
	if err != nil {
		return nil, err
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.Gate == nil {
		o.Gate = NewGate(DefaultHashConcurrency, DefaultHashWait)
	}
	if o.KnownGate == nil {
		o.KnownGate = NewGate(1, DefaultHashWait)
	}
	if o.DBConns <= 0 {
		o.DBConns = max(1, int(db.Config().MaxConns)-1)
	}
	return &Auth{db: db, users: users.NewStore(db), hasher: hasher, ttl: DefaultSession, dummy: dummy,
		limits: o.Limits, gate: o.Gate, known: o.KnownGate, conns: NewGate(o.DBConns, DefaultHashWait),
		csrf: signer{hasher.Key("csrf")}, device: signer{hasher.Key("device cookie")}}, nil
}

// Credentials is one login attempt.
type Credentials struct {
	Email, Password string
	Client          string // clientip.Bucket of the client
	DeviceCookie    string // the browser's device cookie, "" if none
}

// Session is a successful login.
type Session struct {
	Token string // the session cookie's value
	// Device is a fresh device cookie for this browser and email.
	Device string
}

// Login checks the credentials of an admin and returns a new session. It
// refuses before hashing when the throttle says so (*RateLimitError), and
// with ErrBusy when no hashing slot (or database slot) frees up in time.
func (a *Auth) Login(ctx context.Context, c Credentials) (Session, error) {
	email, err := users.NormaliseEmail(c.Email)
	if err != nil || len(c.Password) > 1024 {
		// Not even a possible login: no hash, but it counts against the client.
		if err := a.Malformed(ctx, c.Client); err != nil {
			return Session{}, err
		}
		return Session{}, ErrBadCredentials
	}
	now := time.Now()
	at := attempt{email: email, client: c.Client}
	at.device, at.epoch, _ = a.device.device(c.DeviceCookie, email, now)
	id, err := a.reserve(ctx, &at)
	if err != nil {
		return Session{}, err
	}
	gate := a.gate
	if at.device != "" {
		gate = a.known
	}
	release, err := gate.Enter(ctx)
	if err != nil {
		a.unreserve(ctx, id)
		return Session{}, err
	}
	defer release()
	var u users.User
	err = a.withDB(ctx, func() (err error) {
		u, err = a.users.ByEmail(ctx, email)
		return err
	})
	if errors.Is(err, users.ErrNotFound) {
		_, _ = a.hasher.Verify(c.Password, a.dummy)
		return Session{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, err
	}
	rehash, err := a.hasher.Verify(c.Password, u.PasswordHash)
	if err != nil || !u.IsAdmin {
		return Session{}, ErrBadCredentials // the reserved row is the failure
	}
	if err := a.succeeded(ctx, id, at); err != nil {
		return Session{}, fmt.Errorf("record login: %w", err)
	}
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now
		// that we know the password. Not a password change: the device
		// epoch stays.
		if h, err := a.hasher.Hash(c.Password); err == nil {
			_ = a.withDB(ctx, func() error {
				_, err := a.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, h)
				return err
			})
		}
	}
	token := randomToken()
	err = a.withDB(ctx, func() error {
		_, err := a.db.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)`,
			hashToken(token), u.ID, interval(a.ttl))
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return Session{Token: token, Device: a.device.newDevice(email, u.DeviceEpoch, now)}, nil
}

// knownDevice returns the id of a device cookie signed for the form's
// email, or "": the front limiter's word on a known browser, from the
// signature alone. The epoch is checked later, in the database; a cookie
// a password change ended only ever gets its own front bucket.
func (a *Auth) knownDevice(cookie, formEmail string, now time.Time) string {
	if cookie == "" {
		return ""
	}
	email, err := users.NormaliseEmail(formEmail)
	if err != nil {
		return ""
	}
	id, _, _ := a.device.device(cookie, email, now)
	return id
}

// withDB runs f holding one of the admin area's database slots (DBConns):
// whatever reaches the admin area, the pool keeps a connection for /readyz
// and the rest of the app. ErrBusy when none frees up in time.
func (a *Auth) withDB(ctx context.Context, f func() error) error {
	release, err := a.conns.Enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	return f()
}

// sessionTokenLen is the length of randomToken's tokens: anything else
// can't be a session, and is refused without asking the database.
const sessionTokenLen = 43

// Session returns the admin a live session token belongs to.
func (a *Auth) Session(ctx context.Context, token string) (users.User, error) {
	var u users.User
	if len(token) != sessionTokenLen {
		return u, users.ErrNotFound
	}
	err := a.withDB(ctx, func() error {
		return a.db.QueryRow(ctx, `SELECT u.id, u.email, u.is_admin, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = $1 AND s.expires_at > now() AND u.is_admin`, hashToken(token)).
			Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return u, users.ErrNotFound
	}
	return u, err
}

// Logout ends the session.
func (a *Auth) Logout(ctx context.Context, token string) error {
	return a.withDB(ctx, func() error {
		_, err := a.db.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hashToken(token))
		return err
	})
}

// FailureRetention is how long failed logins are kept: far longer than the
// throttle's window, for whoever investigates an attack.
const FailureRetention = 24 * time.Hour

// Prune deletes expired sessions and failed logins older than
// FailureRetention (or the throttle's window, if longer).
func (a *Auth) Prune(ctx context.Context) (sessions, failures int64, err error) {
	err = a.withDB(ctx, func() error {
		sessions, failures, err = Prune(ctx, a.db, a.limits.Window)
		return err
	})
	return sessions, failures, err
}

// Prune deletes expired sessions and failed logins older than
// FailureRetention (or window, the throttle's, if longer). The app's
// prune-sessions job runs it every PruneEvery (cmd/app, docs/jobs.md).
func Prune(ctx context.Context, db *pgxpool.Pool, window time.Duration) (sessions, failures int64, err error) {
	tag, err := db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`)
	if err != nil {
		return 0, 0, fmt.Errorf("prune sessions: %w", err)
	}
	sessions = tag.RowsAffected()
	keep := max(FailureRetention, window)
	tag, err = db.Exec(ctx, `DELETE FROM login_failures WHERE at < now() - $1::interval`, interval(keep))
	if err != nil {
		return sessions, 0, fmt.Errorf("prune failed logins: %w", err)
	}
	return sessions, tag.RowsAffected(), nil
}

// PruneEvery is how often this repository's app prunes (its
// prune-sessions job, on a systemd timer: no longer inside the web
// process).
const PruneEvery = 10 * time.Minute

// CSRFToken signs a pre-session id (the CSRF cookie's value) for a form.
func (a *Auth) CSRFToken(preSession string) string { return a.csrf.csrfFor(preSession, time.Now()) }

// ValidCSRF checks a form's token against the pre-session id.
func (a *Auth) ValidCSRF(preSession, token string) bool {
	return a.csrf.validCSRF(preSession, token, time.Now())
}

// hashToken is what the database keeps: a leaked sessions table can't be
// replayed as cookies.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
