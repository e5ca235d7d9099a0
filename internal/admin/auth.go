// Package admin is the admin area: log in with email and password, a
// session stored in PostgreSQL, and a page showing what runs.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	ErrRateLimited    = errors.New("too many failed logins: wait 15 minutes and try again")
)

// Limits on failed logins within Window: per email (guessing one account's
// password) and per client IP (spraying many accounts).
const (
	Window         = 15 * time.Minute
	MaxPerEmail    = 5
	MaxPerIP       = 20
	DefaultSession = 12 * time.Hour
)

// Auth checks credentials and keeps sessions.
type Auth struct {
	db     *pgxpool.Pool
	users  *users.Store
	hasher *password.Hasher
	ttl    time.Duration
	// dummy is verified when the email is unknown, so a wrong email costs
	// the same time as a wrong password and doesn't reveal which accounts exist.
	dummy string
}

// NewAuth returns an Auth; hasher carries the pepper.
func NewAuth(db *pgxpool.Pool, hasher *password.Hasher) (*Auth, error) {
	dummy, err := hasher.Hash("dummy password for timing")
	if err != nil {
		return nil, err
	}
	return &Auth{db: db, users: users.NewStore(db), hasher: hasher, ttl: DefaultSession, dummy: dummy}, nil
}

// Login checks the credentials of an admin and returns a new session token.
func (a *Auth) Login(ctx context.Context, email, pw, ip string) (string, error) {
	email, err := users.NormaliseEmail(email)
	if err != nil {
		return "", ErrBadCredentials
	}
	var byEmail, byIP int
	err = a.db.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE email = $1), count(*) FILTER (WHERE ip = $2)
		FROM login_failures WHERE at > now() - $3::interval AND (email = $1 OR ip = $2)`,
		email, ip, fmt.Sprintf("%d seconds", int(Window.Seconds()))).Scan(&byEmail, &byIP)
	if err != nil {
		return "", fmt.Errorf("check login rate: %w", err)
	}
	if byEmail >= MaxPerEmail || byIP >= MaxPerIP {
		return "", ErrRateLimited
	}
	u, err := a.users.ByEmail(ctx, email)
	if errors.Is(err, users.ErrNotFound) {
		_, _ = a.hasher.Verify(pw, a.dummy)
		return "", a.fail(ctx, email, ip)
	}
	if err != nil {
		return "", err
	}
	rehash, err := a.hasher.Verify(pw, u.PasswordHash)
	if err != nil || !u.IsAdmin {
		return "", a.fail(ctx, email, ip)
	}
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now
		// that we know the password.
		if h, err := a.hasher.Hash(pw); err == nil {
			_, _ = a.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, h)
		}
	}
	token := randomToken()
	_, err = a.db.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)`,
		hashToken(token), u.ID, fmt.Sprintf("%d seconds", int(a.ttl.Seconds())))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

func (a *Auth) fail(ctx context.Context, email, ip string) error {
	if _, err := a.db.Exec(ctx, `INSERT INTO login_failures (email, ip) VALUES ($1, $2)`, email, ip); err != nil {
		return fmt.Errorf("record failed login: %w", err)
	}
	return ErrBadCredentials
}

// Session returns the admin a live session token belongs to.
func (a *Auth) Session(ctx context.Context, token string) (users.User, error) {
	var u users.User
	err := a.db.QueryRow(ctx, `SELECT u.id, u.email, u.is_admin, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now() AND u.is_admin`, hashToken(token)).
		Scan(&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, users.ErrNotFound
	}
	return u, err
}

// Logout ends the session.
func (a *Auth) Logout(ctx context.Context, token string) error {
	_, err := a.db.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()`, hashToken(token))
	return err
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database keeps: a leaked sessions table can't be
// replayed as cookies.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
