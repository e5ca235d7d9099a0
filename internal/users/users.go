// Package users stores the app's user accounts in PostgreSQL.
package users

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned when no user has the email.
var ErrNotFound = errors.New("no such user")

// User is one account.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	// DeviceEpoch is what the account's device cookies must carry to be
	// honoured: SetPassword raises it, ending them all.
	DeviceEpoch int64
}

// NormaliseEmail validates a bare address ("a@example.com", no display
// name) and lower-cases it: emails are compared and stored lower case.
func NormaliseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("email is empty: pass -email you@example.com")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", fmt.Errorf("%q is not a valid email address: use the form name@example.com", s)
	}
	local, domain, _ := strings.Cut(a.Address, "@")
	if local == "" || !strings.Contains(domain, ".") || len(s) > 254 {
		return "", fmt.Errorf("%q is not a valid email address: use the form name@example.com", s)
	}
	return strings.ToLower(a.Address), nil
}

// Store reads and writes users.
type Store struct{ db *pgxpool.Pool }

// NewStore returns a Store over db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// CreateAdmin inserts an admin with the given (already normalised) email and
// password hash. created is false, and nothing changes, when the email exists.
func (s *Store) CreateAdmin(ctx context.Context, email, hash string) (created bool, err error) {
	tag, err := s.db.Exec(ctx, `INSERT INTO users (email, password_hash, is_admin) VALUES ($1, $2, true)
		ON CONFLICT (email) DO NOTHING`, email, hash)
	if err != nil {
		return false, fmt.Errorf("create user: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetPassword replaces a user's password hash and ends their sessions and
// device cookies: whoever had the old password, or a browser it logged in
// from, is out.
func (s *Store) SetPassword(ctx context.Context, email, hash string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE users SET password_hash = $2, device_epoch = device_epoch + 1
			WHERE email = $1 RETURNING id`, email, hash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return err
	})
}

// ByEmail returns the user with that (normalised) email.
func (s *Store) ByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.db.QueryRow(ctx, `SELECT id, email, password_hash, is_admin, created_at, device_epoch FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.CreatedAt, &u.DeviceEpoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}
