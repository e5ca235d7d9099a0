package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/backup"
	"github.com/slipway-dev/slipway/internal/frontdoor"
	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// StatusReport is what `status -json` prints: one entry per host, in
// DEPLOY_HOST order. Its JSON field names are a stable interface (see
// docs/deploy.md): add fields, never rename or remove one.
type StatusReport struct {
	Hosts []HostStatus `json:"hosts"`
}

// HostStatus is one host's status. Every text field comes from the server
// and went through remote.Clean.
type HostStatus struct {
	Host    string `json:"host"`    // the ssh alias, as in DEPLOY_HOST
	User    string `json:"user"`    // the ssh user connected as
	Address string `json:"address"` // host:port dialled
	Uname   string `json:"uname"`
	// Slipway is the Slipway that last changed the server and its layout
	// (DEPLOY_PATH/.slipway): version "" and layout 1 without the file.
	Slipway SlipwayStatus `json:"slipway"`
	// Current is the current release's id, "" before the first deploy.
	Current        string           `json:"current"`
	CurrentVersion VersionStatus    `json:"current_version"`
	Serving        ServingStatus    `json:"serving"`
	Instances      []InstanceStatus `json:"instances"`
	// Workers are the app's worker processes running (docs/jobs.md).
	Workers     []WorkerStatus  `json:"workers"`
	Previous    string          `json:"previous"` // "" when none
	ReleasesDir string          `json:"releases_dir"`
	Releases    []ReleaseStatus `json:"releases"` // newest first
	Lock        string          `json:"lock"`     // the holder's "who what", "" when free
	DeployLog   []string        `json:"deploy_log"`
	Journal     []string        `json:"journal"`
	// JournalError says why Journal is empty when journalctl failed.
	JournalError string `json:"journal_error,omitempty"`
	// HTTPS is Caddy's certificate per domain of the front door ([] without
	// one, see docs/https.md).
	HTTPS []frontdoor.Certificate `json:"https"`
	// Archive is the WAL archive and backups in the bucket (nil when the
	// server doesn't archive; docs/backups.md); ArchiveError why it is
	// unknown.
	Archive      *backup.ArchiveStatus `json:"archive,omitempty"`
	ArchiveError string                `json:"archive_error,omitempty"`
}

// SlipwayStatus is a server's .slipway stamp.
type SlipwayStatus struct {
	Version string `json:"version"`
	Layout  int    `json:"layout"`
}

// VersionStatus is a build stamp.
type VersionStatus struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// ServingStatus is what answers on the app's socket.
type ServingStatus struct {
	Answering bool          `json:"answering"`
	Error     string        `json:"error,omitempty"` // why it doesn't answer
	Ready     bool          `json:"ready"`
	NotReady  string        `json:"not_ready,omitempty"` // /readyz's answer when not ready
	Version   VersionStatus `json:"version"`
}

// WorkerStatus is one worker process, <app>-worker-<name>@<instance>.<n>.
type WorkerStatus struct {
	Unit    string `json:"unit"`
	State   string `json:"state"` // ActiveState/SubState
	MainPID int    `json:"main_pid"`
}

// InstanceStatus is one app@<release> instance.
type InstanceStatus struct {
	Unit    string `json:"unit"`
	Release string `json:"release"`
	State   string `json:"state"` // ActiveState/SubState, e.g. active/running
	Live    bool   `json:"live"`
	MainPID int    `json:"main_pid"`
	Status  string `json:"status"` // the app's STATUS= line
}

// ReleaseStatus is one release on disk.
type ReleaseStatus struct {
	ID       string        `json:"id"`
	SHA256   string        `json:"sha256"`
	Version  VersionStatus `json:"version"`
	Current  bool          `json:"current"`
	Previous bool          `json:"previous"`
}

// probeTimeout bounds status's question to the app on its socket.
const probeTimeout = 5 * time.Second

func versionStatus(v Version) VersionStatus {
	return VersionStatus{Version: v.Version, Commit: v.Commit, GoVersion: v.Go}
}

// Status prints, for each host: where it is, the current release and what
// the running app reports, the releases on disk, the lock holder and the
// last deploy log lines. It changes nothing.
func Status(ctx context.Context, o Options, logLines int) error {
	var all []HostStatus
	err := status(ctx, o, logLines, func(i int, h HostStatus) {
		printStatus(o.withDefaults(), i, h, logLines)
		all = append(all, h)
	})
	if err == nil && len(all) > 1 {
		printReleases(o.withDefaults(), all)
	}
	return err
}

// printReleases ends the status of several hosts with each host's current
// release and whether they all run the same binary: after a deploy that
// stopped half way they don't, until the next one.
func printReleases(o Options, hosts []HostStatus) {
	o.printf("")
	o.printf("releases by host:")
	shas := map[string]bool{}
	for _, h := range hosts {
		sha := ""
		for _, r := range h.Releases {
			if r.Current {
				sha = r.SHA256
			}
		}
		shas[sha] = true
		o.printf("  %s  %s  sha256 %s  %s", h.Host, orNone(h.Current), orDash(short(sha)), h.CurrentVersion.text())
	}
	if len(shas) == 1 {
		o.printf("every host runs the same build")
	} else {
		o.printf("the hosts run different builds: the next deploy brings every host to one")
	}
}

// StatusJSON writes the same as Status as one JSON document
// (StatusReport), once every host answered.
func StatusJSON(ctx context.Context, o Options, logLines int) error {
	var r StatusReport
	if err := status(ctx, o, logLines, func(_ int, h HostStatus) { r.Hosts = append(r.Hosts, h) }); err != nil {
		return err
	}
	enc := json.NewEncoder(o.withDefaults().Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func status(ctx context.Context, o Options, logLines int, each func(int, HostStatus)) error {
	o = o.withDefaults()
	if logLines <= 0 {
		logLines = 10
	}
	for i, host := range o.Hosts {
		h, err := statusHost(ctx, o, host, logLines)
		if err != nil {
			return err
		}
		each(i, h)
	}
	return nil
}

func statusHost(ctx context.Context, o Options, host string, logLines int) (HostStatus, error) {
	// Status reads a server of any layout: it is how one learns which
	// Slipway to use.
	s, err := dial(ctx, o, host)
	if err != nil {
		return HostStatus{}, err
	}
	defer s.Close()
	stamp, err := ReadLayout(ctx, s.c, s.svc)
	if err != nil {
		return HostStatus{}, err
	}
	cfg := s.c.Config()
	st, err := s.inspect(ctx)
	if err != nil {
		return HostStatus{}, err
	}
	cur, _ := st.Release(st.Current)
	h := HostStatus{
		Host: host, User: cfg.User, Address: cfg.Addr(), Uname: st.Uname,
		Slipway: SlipwayStatus{Version: stamp.Version, Layout: stamp.Layout},
		Current: st.Current, CurrentVersion: versionStatus(cur.Version), Previous: st.Previous,
		ReleasesDir: o.Service.DeployPath + "/releases",
		Instances:   []InstanceStatus{}, Workers: []WorkerStatus{}, Releases: []ReleaseStatus{}, DeployLog: []string{}, Journal: []string{},
	}
	// A socket with nothing behind it (provisioned, never deployed) queues
	// the probe's connection forever: bound the question.
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	v, notReady, err := s.answering(pctx)
	cancel()
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("no answer within %s: no instance accepts on the socket", probeTimeout)
	}
	if err != nil {
		h.Serving.Error = err.Error()
	} else {
		h.Serving = ServingStatus{Answering: true, Ready: notReady == "", NotReady: notReady, Version: versionStatus(v)}
	}
	if h.HTTPS, err = frontdoor.Status(ctx, s.c, o.Service.AppName); err != nil {
		h.HTTPS = []frontdoor.Certificate{{Err: err.Error()}}
	}
	if h.Archive, err = s.backups().ArchiveState(ctx, time.Now()); err != nil {
		h.ArchiveError = err.Error()
	}
	instances, err := service.Instances(ctx, s.c, o.Service)
	if err != nil {
		return HostStatus{}, err
	}
	for _, in := range instances {
		h.Instances = append(h.Instances, InstanceStatus{Unit: in.Unit, Release: in.Release, State: in.State, Live: in.Live(), MainPID: in.MainPID, Status: in.Status})
	}
	if h.Workers, err = workers(ctx, s, o); err != nil {
		return HostStatus{}, err
	}
	for i := len(st.Releases) - 1; i >= 0; i-- {
		r := st.Releases[i]
		h.Releases = append(h.Releases, ReleaseStatus{ID: r.ID, SHA256: r.SHA256, Version: versionStatus(r.Version), Current: r.ID == st.Current, Previous: r.ID == st.Previous})
	}
	if h.Lock, err = s.lockHolder(ctx); err != nil {
		return HostStatus{}, err
	}
	out, err := callStep(ctx, s.c, "deploy-log-tail", helper.DeployLogTailArgs{DeployPath: o.Service.DeployPath, Lines: logLines})
	if err != nil {
		return HostStatus{}, fmt.Errorf("log on %s: %w", s.Alias, err)
	}
	h.DeployLog = lines(string(out))
	if logs, err := service.Logs(ctx, s.c, o.Service, logLines); err != nil {
		h.JournalError = err.Error()
	} else {
		h.Journal = lines(logs)
	}
	return h, nil
}

// lines splits output into its lines, [] (not null in JSON) when empty.
func lines(out string) []string {
	out = strings.TrimSpace(out)
	if out == "" {
		return []string{}
	}
	return strings.Split(out, "\n")
}

func printStatus(o Options, i int, h HostStatus, logLines int) {
	if i > 0 {
		o.printf("")
	}
	o.printf("host      %s (%s@%s, %s)", h.Host, h.User, h.Address, orDash(h.Uname))
	o.printf("layout    %s", slipversion.Stamp{Version: h.Slipway.Version, Layout: h.Slipway.Layout})
	o.printf("current   %s %s", orNone(h.Current), h.CurrentVersion.text())
	switch sv := h.Serving; {
	case !sv.Answering:
		o.printf("serving   not answering on %s: %s", o.Service.ListenAddr, sv.Error)
	case !sv.Ready:
		o.printf("serving   %s, NOT READY: %s", sv.Version.text(), sv.NotReady)
	default:
		o.printf("serving   %s, ready", sv.Version.text())
	}
	if len(h.HTTPS) == 0 {
		o.printf("https     off (no APP_DOMAIN provisioned)")
	}
	for _, c := range h.HTTPS {
		o.printf("https     %s", c)
	}
	printArchive(o, h)
	o.printf("instances %d", len(h.Instances))
	for _, in := range h.Instances {
		o.printf("  %s  %s  pid %d  %s", in.Unit, in.State, in.MainPID, or(in.Status, "-"))
	}
	o.printf("workers   %d", len(h.Workers))
	for _, w := range h.Workers {
		o.printf("  %s  %s  pid %d", w.Unit, w.State, w.MainPID)
	}
	o.printf("previous  %s", orNone(h.Previous))
	o.printf("releases  %d in %s", len(h.Releases), h.ReleasesDir)
	for _, r := range h.Releases {
		mark := " "
		switch {
		case r.Current:
			mark = "*"
		case r.Previous:
			mark = "-"
		}
		o.printf("  %s %s  sha256 %s  %s", mark, r.ID, short(r.SHA256), r.Version.text())
	}
	o.printf("lock      %s", or(h.Lock, "free"))
	o.printf("deploy.log (last %d):", logLines)
	fmt.Fprintln(o.Stdout, indent(strings.Join(h.DeployLog, "\n")))
	o.printf("journalctl -u %s (last %d):", o.Service.InstancePattern(), logLines)
	journal := strings.Join(h.Journal, "\n")
	if h.JournalError != "" {
		journal = "unavailable: " + h.JournalError
	}
	fmt.Fprintln(o.Stdout, indent(journal))
}

// printArchive writes the archive's lines: where the WAL and backups
// stand, then one ALERT line per problem.
func printArchive(o Options, h HostStatus) {
	a := h.Archive
	switch {
	case h.ArchiveError != "":
		o.printf("archive   unknown: %s", h.ArchiveError)
		return
	case a == nil:
		return
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	o.printf("archive   last WAL %s at %s; last good backup %s (%s) at %s", orDash(a.LastWAL), when(a.LastWALAt), orDash(a.Backup), orDash(a.BackupType), when(a.BackupAt))
	for _, al := range a.Alerts {
		o.printf("ALERT     %s", al)
	}
}

// text is the version as the text status shows it.
func (v VersionStatus) text() string {
	return Version{Version: v.Version, Commit: v.Commit, Go: v.GoVersion}.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
