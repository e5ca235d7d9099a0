package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-dev/slipway/internal/service"
)

// Status prints, for each host: where it is, the current release and what
// the running app reports, the releases on disk, the lock holder and the
// last deploy log lines. It changes nothing.
func Status(ctx context.Context, o Options, logLines int) error {
	o = o.withDefaults()
	if logLines <= 0 {
		logLines = 10
	}
	for i, host := range o.Hosts {
		if i > 0 {
			o.printf("")
		}
		if err := statusHost(ctx, o, host, logLines); err != nil {
			return err
		}
	}
	return nil
}

func statusHost(ctx context.Context, o Options, host string, logLines int) error {
	s, err := connect(ctx, o, host)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := s.c.Config()
	st, err := s.inspect(ctx)
	if err != nil {
		return err
	}
	o.printf("host      %s (%s@%s, %s)", host, cfg.User, cfg.Addr(), orDash(st.Uname))
	cur, _ := st.Release(st.Current)
	o.printf("current   %s %s", orNone(st.Current), cur.Version)
	if v, notReady, err := s.answering(ctx); err != nil {
		o.printf("serving   not answering on %s: %v", o.Service.ListenAddr, err)
	} else if notReady != "" {
		o.printf("serving   %s, NOT READY: %s", v, notReady)
	} else {
		o.printf("serving   %s, ready", v)
	}
	instances, err := service.Instances(ctx, s.c, o.Service)
	if err != nil {
		return err
	}
	o.printf("instances %d", len(instances))
	for _, in := range instances {
		o.printf("  %s  %s  pid %d  %s", in.Unit, in.State, in.MainPID, or(in.Status, "-"))
	}
	o.printf("previous  %s", orNone(st.Previous))
	o.printf("releases  %d in %s/releases", len(st.Releases), o.Service.DeployPath)
	for i := len(st.Releases) - 1; i >= 0; i-- {
		r := st.Releases[i]
		mark := " "
		switch r.ID {
		case st.Current:
			mark = "*"
		case st.Previous:
			mark = "-"
		}
		o.printf("  %s %s  sha256 %s  %s", mark, r.ID, short(r.SHA256), r.Version)
	}
	holder, err := s.lockHolder(ctx)
	if err != nil {
		return err
	}
	o.printf("lock      %s", or(holder, "free"))
	out, err := s.run(ctx, "log", `tail -n "$2" "$1/deploy.log" 2>/dev/null || true`, o.Service.DeployPath, fmt.Sprint(logLines))
	if err != nil {
		return err
	}
	o.printf("deploy.log (last %d):", logLines)
	fmt.Fprintln(o.Stdout, indent(strings.TrimSpace(out)))
	logs, err := service.Logs(ctx, s.c, o.Service, logLines)
	if err != nil {
		logs = "unavailable: " + err.Error()
	}
	o.printf("journalctl -u %s (last %d):", o.Service.InstancePattern(), logLines)
	fmt.Fprintln(o.Stdout, indent(strings.TrimSpace(logs)))
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
