// Package watchdog keeps systemd's watchdog (WatchdogSec=) fed while the app
// is healthy. Healthy means the database answers: an app that lost its
// database for a whole watchdog period is restarted by systemd, which
// reconnects from scratch and shows up in `systemctl status`.
package watchdog

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Run sends WATCHDOG=1 at half the interval systemd asked for, each time
// after check succeeds, until ctx is done. Without WatchdogSec (or outside
// systemd) it returns at once. Run it in its own goroutine.
func Run(ctx context.Context, check func(context.Context) error, log *slog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable: not pinging", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	notify := func() error {
		_, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		return err
	}
	loop(ctx, interval/2, check, notify, log)
}

// loop pings every period while check passes. check gets half a period: a
// hung database must not delay the next ping past systemd's deadline when it
// recovers.
func loop(ctx context.Context, period time.Duration, check func(context.Context) error, notify func() error, log *slog.Logger) {
	log.Info("systemd watchdog on", "ping_every", period.String())
	t := time.NewTicker(period)
	defer t.Stop()
	healthy := true
	for {
		cctx, cancel := context.WithTimeout(ctx, period/2)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && healthy:
			// Logged on change only: the journal keeps one line per outage.
			log.Error("database unreachable: withholding watchdog pings, systemd restarts the app if it lasts", "err", err)
		case err == nil && !healthy:
			log.Info("database reachable again: watchdog pings resumed")
		}
		healthy = err == nil
		if healthy {
			if err := notify(); err != nil {
				log.Warn("systemd watchdog ping failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
