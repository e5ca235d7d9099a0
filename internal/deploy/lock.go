package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	hclient "github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/remote"
)

// ErrLocked means another deploy holds the server's deploy lock.
var ErrLocked = errors.New("deploy lock held")

// heartbeat is how often the lock holder proves it is alive; the server
// gives up on it after 20 s of silence.
const heartbeat = 5 * time.Second

// lock is a held deploy lock.
type lock struct {
	s    *Server
	p    *remote.Process
	stop chan struct{}
	wg   sync.WaitGroup
	// Stale is the info of a holder that died without releasing, if any.
	Stale string
}

// holderInfo is what the lock info file records.
func holderInfo(who, what string, now time.Time) string {
	return fmt.Sprintf("%s %s since %s", who, what, now.UTC().Format(time.RFC3339))
}

// acquireLock takes the server's deploy lock, waiting up to wait (0: not at
// all). Busy is reported with the holder and since when; log gets told
// while we wait.
func (s *Server) acquireLock(ctx context.Context, who, what string, wait time.Duration, log func(string)) (*lock, error) {
	// The lock is slipway-helper's lock step, held while it runs (see
	// helper.LockArgs): it flocks the same .deploy.lock as the shell-based
	// Slipway did, so either kind of client waits for the other.
	p, err := hclient.Start(ctx, s.c, "lock", helper.LockArgs{
		DeployPath:    s.svc.DeployPath,
		WaitSeconds:   int(wait.Round(time.Second) / time.Second),
		Info:          holderInfo(who, what, time.Now()),
		HandoverUnits: s.svc.HandoverUnit(),
	})
	if err != nil {
		return nil, fmt.Errorf("deploy lock on %s: %w", s.Alias, err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(p.Stdout)
		for sc.Scan() {
			// The holder line is the server's text, printed to the operator.
			lines <- remote.Clean(sc.Text())
		}
		close(lines)
	}()
	holder, refused, failed := "", false, ""
	for {
		select {
		case <-ctx.Done():
			p.Close()
			return nil, ctx.Err()
		case line, ok := <-lines:
			if !ok {
				err := p.Wait()
				if refused {
					return nil, fmt.Errorf("%w on %s (%s): by %s: wait for it to finish, or set DEPLOY_LOCK_WAIT=5m to wait",
						ErrLocked, s.Alias, s.path(".deploy.lock"), orUnknown(holder))
				}
				if failed != "" {
					return nil, fmt.Errorf("deploy lock on %s: %s", s.Alias, failed)
				}
				return nil, fmt.Errorf("deploy lock on %s: %v", s.Alias, err)
			}
			kind, rest, _ := strings.Cut(line, " ")
			switch kind {
			case "busy":
				holder = rest
				if wait > 0 {
					log(fmt.Sprintf("deploy lock on %s held by %s: waiting up to %s", s.Alias, orUnknown(rest), wait))
				}
			case "result":
				// "result busy <holder>": the wait ran out; any other
				// result before "locked" is a failure, in the error.
				outcome, who, _ := strings.Cut(rest, " ")
				if outcome == "busy" {
					refused = true
					if who != "" {
						holder = who
					}
				} else {
					failed = strings.TrimPrefix(rest, "failed ")
				}
			case "handover":
				log(fmt.Sprintf("a handover left by an earlier deploy is still running on %s (%s): waiting for it to end", s.Alias, s.svc.HandoverUnit()))
			case "locked":
				l := &lock{s: s, p: p, stop: make(chan struct{}), Stale: rest}
				l.wg.Add(1)
				go l.beat()
				return l, nil
			}
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown deploy"
	}
	return s
}

func (l *lock) beat() {
	defer l.wg.Done()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		if _, err := l.p.Stdin.Write([]byte{helper.Heartbeat}); err != nil {
			return
		}
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

// release tells the lock step to remove the info file (a clean exit) and
// let the lock go, and waits until it has.
func (l *lock) release(context.Context) {
	close(l.stop)
	l.wg.Wait()
	_, _ = l.p.Stdin.Write([]byte{helper.LockRelease})
	l.p.Stdin.Close()
	_ = l.p.Wait()
	l.p.Close()
}

// lockHolder reports who holds the lock now, "" if free.
func (s *Server) lockHolder(ctx context.Context) (string, error) {
	out, err := callStep(ctx, s.c, "lock-status", helper.LockStatusArgs{DeployPath: s.svc.DeployPath})
	if err != nil {
		return "", fmt.Errorf("lock status on %s: %w", s.Alias, err)
	}
	return strings.TrimSpace(string(out)), nil
}
