package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// ErrLocked means another deploy holds the server's deploy lock.
var ErrLocked = errors.New("deploy lock held")

// lockScript takes an exclusive flock on $1/.deploy.lock and holds it for as
// long as heartbeats (one "." every few seconds) arrive on stdin. The lock
// belongs to this shell on the server: when the deploy dies, its SSH session
// ends, stdin closes (or the heartbeats stop) and the kernel releases the
// lock. No stale lock ever needs cleaning by hand. The info file says who
// holds it; one left behind means a deploy died holding the lock.
//
// Under the lock, before and after: a handover a dead deploy left running
// ($4, a unit of its own, bounded by its RuntimeMaxSec) is waited for, as it
// still owns the switch; and every upload that is not finished is one that
// died (only the lock holder uploads), so it is removed, whether the next
// deploy comes or not.
const lockScript = `dp=$1 wait=$2 info=$3 handover=$4
` + service.AwaitHandoverGone + `
mkdir -p "$dp" || exit 1
exec 9>>"$dp/.deploy.lock" || exit 1
if ! flock -n 9; then
  echo "busy $(cat "$dp/.deploy.lock.info" 2>/dev/null)"
  [ "$wait" -gt 0 ] && flock -w "$wait" 9 || exit 75
fi
stale=$(cat "$dp/.deploy.lock.info" 2>/dev/null)
printf '%s\n' "$info" > "$dp/.deploy.lock.info"
if systemctl -q is-active "$handover" 2>/dev/null; then
  echo "handover"
fi
handover_gone "$handover"
clean() { rm -rf "$dp"/releases/.upload-* "$dp"/releases/.new-*; }
clean
echo "locked $stale"
while [ "$(timeout 20 dd bs=1 count=1 2>/dev/null)" = . ]; do :; done
clean`

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
	info := holderInfo(who, what, time.Now())
	cmd := "sh -c " + remote.Quote(lockScript) + " lock " + remote.Quote(s.svc.DeployPath) + " " +
		strconv.Itoa(int(wait.Round(time.Second)/time.Second)) + " " + remote.Quote(info) + " " + remote.Quote(s.svc.HandoverUnit())
	p, err := s.c.Start(cmd)
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
	holder := ""
	for {
		select {
		case <-ctx.Done():
			p.Close()
			return nil, ctx.Err()
		case line, ok := <-lines:
			if !ok {
				err := p.Wait()
				var ee *remote.ExitError
				if errors.As(err, &ee) && ee.Status == 75 {
					return nil, fmt.Errorf("%w on %s (%s): by %s: wait for it to finish, or set DEPLOY_LOCK_WAIT=5m to wait",
						ErrLocked, s.Alias, s.path(".deploy.lock"), orUnknown(holder))
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
		if _, err := l.p.Stdin.Write([]byte(".")); err != nil {
			return
		}
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

// release removes the info file (a clean exit) and lets the lock go.
func (l *lock) release(ctx context.Context) {
	close(l.stop)
	l.wg.Wait()
	_, _ = l.s.run(ctx, "unlock", `rm -f "$1/.deploy.lock.info"`, l.s.svc.DeployPath)
	l.p.Stdin.Close()
	_ = l.p.Wait()
	l.p.Close()
}

// lockHolder reports who holds the lock now, "" if free.
func (s *Server) lockHolder(ctx context.Context) (string, error) {
	out, err := s.run(ctx, "lock status", `cd "$1" 2>/dev/null || exit 0
[ -e .deploy.lock ] || exit 0
if flock -n .deploy.lock true; then
  [ -s .deploy.lock.info ] && echo "free (the last holder died without releasing: $(cat .deploy.lock.info))"
  exit 0
fi
echo "held by $(cat .deploy.lock.info 2>/dev/null)"`, s.svc.DeployPath)
	return strings.TrimSpace(out), err
}
