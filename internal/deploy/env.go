package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/appexec"
	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
)

// Outcomes of an env change on one host.
const (
	EnvChanged   = "changed"
	EnvUnchanged = "unchanged"
)

// EnvResult is what an env change did on one host.
type EnvResult struct {
	Host    string
	Outcome string // EnvChanged or EnvUnchanged; "" when the host was left untouched
	Release string // the release restarted with the new settings, "" when none runs
}

// envHost is one host of a change, connected and locked.
type envHost struct {
	s         *Server
	lk        *lock
	st        State
	candidate string // the new env file beside the service's, "" when unchanged
}

// SetEnv applies one env:set or env:unset to every host, all or none as
// far as the servers allow: every host is connected, locked (the deploy
// lock), given a candidate env file and has the live release load it
// (`app config check`) before any host's file changes. Only then, one host
// at a time, the candidate replaces the env file and the live release
// starts again with it beside the running instance, on the same socket,
// taking over once ready (the deploy's handover: not one request fails);
// a new instance that never gets ready is stopped and the file it had put
// back. A failure there stops the change: the hosts before it keep the new
// settings, the failed one and those after keep the old, and the error
// says which is which. The value travels only on stdin.
func SetEnv(ctx context.Context, o Options, ch envfile.Change, force bool) ([]EnvResult, error) {
	o = o.withDefaults()
	if err := o.Service.Validate(); err != nil {
		return nil, err
	}
	ch.DatabaseURL = o.Service.DatabaseURL
	if err := ch.Validate(force); err != nil {
		return nil, err
	}
	for _, host := range o.Hosts {
		if _, err := remote.Resolve(ctx, host, remote.ConfigSource{Path: o.SSHConfig, Getenv: o.Getenv}); err != nil {
			return nil, err
		}
	}
	what := "env:set " + ch.Key
	if ch.Unset {
		what = "env:unset " + ch.Key
	}
	var hosts []*envHost
	defer func() {
		for _, h := range hosts {
			if h.candidate != "" {
				_, _ = callStep(context.WithoutCancel(ctx), h.s.c, "env-discard", helper.EnvCandidateArgs{EnvFile: o.Service.EnvFile(), Candidate: h.candidate})
			}
			if h.lk != nil {
				h.lk.release(context.WithoutCancel(ctx))
			}
			h.s.Close()
		}
	}()
	untouched := func(err error) error {
		return fmt.Errorf("%w\nnothing changed on any host (%s)", err, strings.Join(o.Hosts, ", "))
	}
	// Every host reachable and locked before any file is written.
	for _, host := range o.Hosts {
		s, err := connect(ctx, o, host)
		if err != nil {
			return nil, untouched(err)
		}
		h := &envHost{s: s}
		hosts = append(hosts, h)
		if err := s.checkProvisioned(ctx); err != nil {
			return nil, untouched(err)
		}
		if h.lk, err = s.acquireLock(ctx, o.Who, what, o.LockWait, func(m string) { o.printf("%s", m) }); err != nil {
			return nil, untouched(err)
		}
	}
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, h := range hosts {
		var err error
		if h.st, err = h.s.inspect(ctx); err != nil {
			return nil, untouched(err)
		}
		if h.candidate, err = h.s.prepareEnv(ctx, ch, tag); err != nil {
			return nil, untouched(err)
		}
		if h.candidate == "" {
			o.printf("%s: %s is already so in %s", h.s.Alias, ch.Key, o.Service.EnvFile())
			continue
		}
		if err := h.s.checkEnv(ctx, o, h.st, h.candidate); err != nil {
			return nil, untouched(err)
		}
	}
	var results []EnvResult
	for i, h := range hosts {
		res := EnvResult{Host: h.s.Alias, Outcome: EnvUnchanged}
		if h.candidate != "" {
			var err error
			// The candidate is gone once the server took it; removing it
			// afterwards (the deferred discard) is then a no-op.
			res.Release, err = h.s.applyEnv(ctx, o, h.st, ch, h.candidate)
			if err != nil {
				return results, fmt.Errorf("%w\n%s", err, envReport(results, hosts[i:]))
			}
			res.Outcome = EnvChanged
		}
		results = append(results, res)
	}
	o.printf("%s", envReport(results, nil))
	return results, nil
}

// envReport says which hosts have the new settings and which not.
func envReport(done []EnvResult, left []*envHost) string {
	var changed, same, not []string
	for _, r := range done {
		if r.Outcome == EnvChanged {
			changed = append(changed, r.Host)
		} else {
			same = append(same, r.Host)
		}
	}
	for _, h := range left {
		not = append(not, h.s.Alias)
	}
	var parts []string
	if len(changed) > 0 {
		parts = append(parts, "changed: "+strings.Join(changed, ", "))
	}
	if len(same) > 0 {
		parts = append(parts, "already so: "+strings.Join(same, ", "))
	}
	if len(not) > 0 {
		parts = append(parts, "not changed (old settings kept): "+strings.Join(not, ", "))
	}
	return strings.Join(parts, "; ")
}

// prepareEnv writes the candidate env file on the server and returns its
// path, "" when the change changes nothing there. The file is read and
// edited there (helper's env-prepare), by envfile's one parser: a
// hand-edited file (KEY = value, quotes, continuations) is changed where
// systemd reads the key, and what the parser can't read as systemd does
// is refused in one line. The value travels in the request, on stdin.
func (s *Server) prepareEnv(ctx context.Context, ch envfile.Change, tag string) (string, error) {
	out, err := callStep(ctx, s.c, "env-prepare", helper.EnvPrepareArgs{EnvFile: s.svc.EnvFile(), Tag: tag, Key: ch.Key, Value: ch.Value, Unset: ch.Unset})
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Alias, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(line, "candidate "); ok {
			return p, nil
		}
		if line == "result ok unchanged" {
			return "", nil
		}
	}
	return "", fmt.Errorf("env-prepare on %s: unexpected output %q", s.Alias, out)
}

// envVar is one variable of a host's env file: a value, its keyed hash or
// nothing, as asked (helper.EnvReadArgs).
type envVar struct {
	Key, Value string
	Empty      bool
}

// envSkipped is a line systemd drops, by number, with the reason.
type envSkipped struct {
	Line   string
	Reason string
}

// readEnv is what systemd reads in the env file, parsed on the server
// (helper's env-read): show is helper.EnvNames, EnvSums (salt keying the
// hashes) or EnvValues.
func (s *Server) readEnv(ctx context.Context, show, salt string) ([]envVar, []envSkipped, error) {
	out, err := callStep(ctx, s.c, "env-read", helper.EnvReadArgs{EnvFile: s.svc.EnvFile(), Show: show, Salt: salt})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.Alias, err)
	}
	var vars []envVar
	var skipped []envSkipped
	for _, line := range strings.Split(string(out), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "var":
			key, val, _ := strings.Cut(rest, " ")
			v := envVar{Key: key, Value: val}
			switch show {
			case helper.EnvNames:
				v.Value, v.Empty = "", val == "empty"
			case helper.EnvValues:
				if v.Value, err = strconv.Unquote(val); err != nil {
					return nil, nil, fmt.Errorf("env-read on %s: %s: %w", s.Alias, key, err)
				}
				v.Empty = v.Value == ""
			}
			vars = append(vars, v)
		case "skipped":
			n, reason, _ := strings.Cut(rest, " ")
			skipped = append(skipped, envSkipped{Line: n, Reason: reason})
		case "result":
			if strings.HasPrefix(rest, "missing") {
				return nil, nil, fmt.Errorf("%s has no %s: run `go run mage.go provision` first", s.Alias, s.svc.EnvFile())
			}
		}
	}
	return vars, skipped, nil
}

// checkEnv has the live release load the candidate as the service would
// (`app config check` as the service user, with its sandboxing). A
// release older than that command can't be asked: the handover's
// readiness is then the only check, and it says so.
func (s *Server) checkEnv(ctx context.Context, o Options, st State, candidate string) error {
	if st.Current == "" {
		o.printf("%s: no release deployed: the next deploy loads the new settings", s.Alias)
		return nil
	}
	out, err := s.configCheck(ctx, candidate)
	text := strings.TrimSpace(string(out))
	if err == nil {
		o.printf("%s: release %s loads the new settings (app config check)", s.Alias, st.Current)
		return nil
	}
	if strings.Contains(text, `unknown command "config"`) {
		o.printf("%s: release %s predates `app config check`: only the restart's readiness checks the new settings", s.Alias, st.Current)
		return nil
	}
	if text == "" {
		return fmt.Errorf("check the new settings with release %s on %s: %w", st.Current, s.Alias, err)
	}
	return fmt.Errorf("release %s on %s refuses the new settings, nothing was changed:\n%s", st.Current, s.Alias, indent(text))
}

// configCheck runs the live release's `app config check` through the
// helper's exec step as the service, with the candidate as its env file,
// its stderr and stdout together.
func (s *Server) configCheck(ctx context.Context, candidate string) ([]byte, error) {
	cmd, err := appexec.PrivateCommand(ctx, s.c)
	if err != nil {
		return nil, err
	}
	in, err := appexec.StdinFor(helper.ExecArgs{Unit: appexec.SpecWithEnv(s.svc, candidate), MergeOutput: true}, s.svc.Binary(), []string{"config", "check"}, nil)
	if err != nil {
		return nil, err
	}
	return s.c.RunRoot(ctx, cmd, in)
}

// applyEnv makes the candidate the env file: with a release running,
// through a handover to the same release under its next generation (the
// old instance keeps serving until the new one is ready with the new
// settings); without one, by a rename. It returns the release restarted.
func (s *Server) applyEnv(ctx context.Context, o Options, st State, ch envfile.Change, candidate string) (string, error) {
	action := "set"
	if ch.Unset {
		action = "unset"
	}
	rel, ok := st.Release(st.Current)
	prefix := fmt.Sprintf("%s env host=%s by=%s %s=%s release=%s", time.Now().UTC().Format(time.RFC3339), s.Alias, o.Who, action, ch.Key, orDash(st.Current))
	if !ok {
		if _, err := callStep(ctx, s.c, "env-install", helper.EnvCandidateArgs{EnvFile: s.svc.EnvFile(), Candidate: candidate}); err != nil {
			return "", fmt.Errorf("env-install on %s: %w", s.Alias, err)
		}
		s.log(ctx, o, prefix+" result=ok note=no_release_running")
		o.printf("%s: %s %s in %s (no release running)", s.Alias, ch.Key, action, s.svc.EnvFile())
		return "", nil
	}
	list, err := service.Instances(ctx, s.c, s.svc)
	if err != nil {
		return "", err
	}
	gen := 0
	for _, in := range list {
		if in.Release == rel.ID {
			gen = max(gen, in.Generation)
		}
	}
	inst := s.svc.InstanceName(rel.ID, gen+1)
	o.printf("%s: starting release %s again as %s with the new settings, beside the live instance", s.Alias, rel.ID, s.svc.InstanceUnit(inst))
	outcome, err := s.handoverTo(ctx, o, rel, service.HandoverRequest{Instance: inst, EnvFile: candidate, LogLine: prefix})
	if err != nil {
		if outcome == OutcomeRolledBack {
			err = fmt.Errorf("%w\n%s: the env file was put back as it was", err, s.Alias)
		}
		return "", err
	}
	o.printf("%s: %s %s, release %s serves with it", s.Alias, ch.Key, action, rel.ID)
	return rel.ID, nil
}

// EnvName is one name in a host's env file.
type EnvName struct {
	Name  string
	Empty bool // assigned an empty value (KEY=)
}

// ListEnv prints the names each host's env file sets as systemd reads it
// (envfile.Parse, on the server: only the names come back), and the lines systemd drops, by number.
func ListEnv(ctx context.Context, o Options) (map[string][]EnvName, error) {
	o = o.withDefaults()
	all := map[string][]EnvName{}
	for _, host := range o.Hosts {
		vars, skipped, err := envOf(ctx, o, host, helper.EnvNames, "")
		if err != nil {
			return all, err
		}
		var names []EnvName
		for _, v := range vars {
			names = append(names, EnvName{Name: v.Key, Empty: v.Empty})
		}
		all[host] = names
		o.printf("%s (%s):", host, o.Service.EnvFile())
		for _, n := range names {
			if n.Empty {
				o.printf("  %s (empty)", n.Name)
			} else {
				o.printf("  %s", n.Name)
			}
		}
		for _, sk := range skipped {
			o.printf("  line %s sets nothing: %s", sk.Line, remote.Clean(sk.Reason))
		}
	}
	return all, nil
}

// envOf is host's env file as systemd reads it (see readEnv).
func envOf(ctx context.Context, o Options, host, show, salt string) ([]envVar, []envSkipped, error) {
	s, err := connect(ctx, o, host)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	return s.readEnv(ctx, show, salt)
}

// ErrNotTerminal refuses env:list -values where the values could end up
// in a file or a CI log.
var ErrNotTerminal = errors.New("env:list -values shows secrets only on a terminal: run it in one (stdout is not a terminal), or use env:list for the names")

// ListEnvValues prints each host's settings as systemd reads them, values
// included (written as env:set writes them): only when terminal is true (stdout is one) and confirm says
// yes, asked once before connecting.
func ListEnvValues(ctx context.Context, o Options, terminal bool, confirm func(prompt string) (bool, error)) error {
	o = o.withDefaults()
	if !terminal {
		return ErrNotTerminal
	}
	ok, err := confirm(fmt.Sprintf("show the values of %s on %s, secrets included? type yes: ", o.Service.EnvFile(), strings.Join(o.Hosts, ", ")))
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("env:list -values: not confirmed, nothing shown")
	}
	for _, host := range o.Hosts {
		vars, _, err := envOf(ctx, o, host, helper.EnvValues, "")
		if err != nil {
			return err
		}
		o.printf("%s (%s):", host, o.Service.EnvFile())
		var lines []string
		for _, v := range vars {
			lines = append(lines, v.Key+"="+envfile.Encode(v.Value))
		}
		fmt.Fprintln(o.Stdout, indent(remote.Clean(strings.Join(lines, "\n"))))
	}
	return nil
}

// EnvDiff is one name whose value is not the same on every host.
type EnvDiff struct {
	Name string
	// Groups are the hosts by value: hosts in one group hold the same
	// value; Missing are the hosts without the name.
	Groups  [][]string
	Missing []string
}

// DiffEnv compares the env files of the hosts by name and by value as
// systemd reads them (envfile.Parse: `KEY = "v"` and KEY=v are the same
// value): each file is parsed on its server, which sends a keyed hash of
// each value, never the value; only names are printed.
// It prints the names that differ, and returns them.
func DiffEnv(ctx context.Context, o Options) ([]EnvDiff, error) {
	o = o.withDefaults()
	values := map[string]map[string]string{} // host -> name -> value
	names := map[string]bool{}
	// The values stay on the servers: each sends a hash of each value,
	// keyed by a salt of this run's own, so equal values compare equal.
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	for _, host := range o.Hosts {
		vars, _, err := envOf(ctx, o, host, helper.EnvSums, hex.EncodeToString(salt))
		if err != nil {
			return nil, err
		}
		values[host] = map[string]string{}
		for _, v := range vars {
			values[host][v.Key] = v.Value
			names[v.Key] = true
		}
	}
	var diffs []EnvDiff
	for _, name := range slices.Sorted(maps.Keys(names)) {
		d := EnvDiff{Name: name}
		group := map[string]int{}
		for _, host := range o.Hosts {
			v, ok := values[host][name]
			if !ok {
				d.Missing = append(d.Missing, host)
				continue
			}
			i, seen := group[v]
			if !seen {
				i = len(d.Groups)
				group[v] = i
				d.Groups = append(d.Groups, nil)
			}
			d.Groups[i] = append(d.Groups[i], host)
		}
		if len(d.Groups) > 1 || len(d.Missing) > 0 {
			diffs = append(diffs, d)
		}
	}
	if len(diffs) == 0 {
		o.printf("env files of %s: the same %d names, the same values", strings.Join(o.Hosts, ", "), len(names))
		return nil, nil
	}
	for _, d := range diffs {
		var parts []string
		for i, g := range d.Groups {
			parts = append(parts, fmt.Sprintf("value %d on %s", i+1, strings.Join(g, ", ")))
		}
		if len(d.Missing) > 0 {
			parts = append(parts, "missing on "+strings.Join(d.Missing, ", "))
		}
		o.printf("%s differs: %s", d.Name, strings.Join(parts, "; "))
	}
	return diffs, nil
}
