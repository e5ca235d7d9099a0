package admin

import (
	"context"
	"errors"
	"time"
)

// HashMemory is what one password check holds while it runs: argon2id's
// memory parameter (password.Default), 64 MiB.
const HashMemory = 64 << 20

// Defaults of the hashing gate.
const (
	DefaultHashConcurrency = 2
	// DefaultHashWait is how long an attempt may wait for a free slot
	// before it is answered 503: long enough to absorb a burst of a few
	// real logins, short enough that a flood isn't queued for minutes.
	DefaultHashWait = 2 * time.Second
)

// ErrBusy is returned when every hashing slot stayed taken for the gate's
// whole wait.
var ErrBusy = errors.New("too many logins at once: try again in a few seconds")

// Gate bounds how many password hashes run at once: each holds HashMemory,
// so the gate is what keeps a login flood from taking the server's memory.
// Auth has two: one for everyone, and one slot for browsers that logged in
// before (AuthOptions.KnownGate), so the memory bound is both together.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// NewGate returns a gate of n slots; Enter waits up to wait for one.
func NewGate(n int, wait time.Duration) *Gate {
	if n < 1 {
		n = 1
	}
	return &Gate{slots: make(chan struct{}, n), wait: wait}
}

// Enter takes a slot, waiting up to the gate's wait, and returns the
// function that gives it back. ErrBusy when none freed up in time.
func (g *Gate) Enter(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) leave() { <-g.slots }

// RetryAfter is what a refused attempt is told to wait.
func (g *Gate) RetryAfter() time.Duration { return g.wait }
