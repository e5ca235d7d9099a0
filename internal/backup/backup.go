package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
	"github.com/slipway-dev/slipway/internal/service"
)

// Kinds of backup, in the .meta and the id.
const (
	KindDeploy     = "deploy"
	KindManual     = "manual"
	KindPreRestore = "pre-restore"
	// KindPoint is a restore point in the archive (no dump): restore
	// replays the bucket's WAL up to it.
	KindPoint = "point"
	// KindArchive is a dump made from the bucket's archive (Materialize).
	KindArchive = "archive"
)

// DefaultKeep is how many backups stay on the server (DEPLOY_KEEP_BACKUPS).
const DefaultKeep = 5

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[a-z0-9-]{1,60}$`)

// Info is one backup on the server.
type Info struct {
	ID       string
	When     time.Time
	Size     int64
	Schema   int64  // goose version of the database dumped
	Release  string // the release serving when it was taken ("" unknown)
	Kind     string
	Duration time.Duration // of pg_dump and its check
	Database string
	// Name and WAL, for a restore point: its name and WAL segment.
	Name, WAL string
}

// NewID is the id of a backup taken now that no release names.
func NewID(now time.Time, kind string) string {
	return now.UTC().Format("20060102T150405Z") + "-" + kind
}

// Server is the app on one server.
type Server struct {
	Alias string
	R     service.Runner
	C     service.Config
}

// Take dumps the database as backups/<id>.dump and prunes to the newest
// keep. release is the one serving. A refusal (no pg_dump, an older
// pg_dump than the server, low disk space) or a failure is one line and
// leaves no file behind.
func (s Server) Take(ctx context.Context, id, release, kind string, keep int) (_ Info, err error) {
	if !idRE.MatchString(id) {
		return Info{}, fmt.Errorf("backup id %q: want <UTC time>-<letters, digits, ->", id)
	}
	if keep < 1 {
		keep = DefaultKeep
	}
	args := helper.BackupTakeArgs{DBArgs: s.dbArgs(), ID: id, Release: release, Kind: kind, Keep: keep, Host: s.Alias}
	if args.Detached, err = s.detached("backup-"+id, "backup "+id); err != nil {
		return Info{}, err
	}
	kv, err := s.call(ctx, "backup-take", args)
	if err != nil {
		return Info{}, fmt.Errorf("backup on %s: %w", s.Alias, err)
	}
	b := Info{ID: id, Release: release, Kind: kind, When: time.Now().UTC()}
	b.Size, _ = strconv.ParseInt(kv["size"], 10, 64)
	b.Schema, _ = strconv.ParseInt(kv["schema"], 10, 64)
	msec, _ := strconv.ParseInt(kv["duration_ms"], 10, 64)
	b.Duration = time.Duration(msec) * time.Millisecond
	return b, nil
}

// LogFields are the backup's key=value fields on a deploy.log line.
func (b Info) LogFields() string {
	if b.Kind == KindPoint {
		return fmt.Sprintf("backup=%s backup_kind=point backup_point=%s backup_wal=%s backup_schema=%d backup_duration=%s", b.ID, b.Name, b.WAL, b.Schema, b.Duration)
	}
	return fmt.Sprintf("backup=%s backup_size=%d backup_schema=%d backup_duration=%s", b.ID, b.Size, b.Schema, b.Duration)
}

// FreeID is id, or id-2, id-3... when a backup already holds it: a release
// deployed twice (the first start failed half-way through its migrations)
// must not overwrite the backup of the data before them.
func FreeID(list []Info, id string) string {
	taken := map[string]bool{}
	for _, b := range list {
		taken[b.ID] = true
	}
	cand := id
	for n := 2; taken[cand]; n++ {
		cand = id + "-" + strconv.Itoa(n)
	}
	return cand
}

// List returns the server's backups, newest first.
func (s Server) List(ctx context.Context) ([]Info, error) {
	out, err := client.Call(ctx, s.R, "backup-list", helper.BackupListArgs{DeployPath: s.C.DeployPath})
	if err != nil {
		return nil, fmt.Errorf("list backups on %s: %w", s.Alias, err)
	}
	return parseList(out), nil
}

func parseList(out []byte) []Info {
	var list []Info
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "backup" {
			continue
		}
		b := Info{ID: f[1]}
		for _, w := range f[2:] {
			k, v, _ := strings.Cut(w, "=")
			switch k {
			case "file_size", "size":
				b.Size, _ = strconv.ParseInt(v, 10, 64)
			case "when":
				b.When, _ = time.Parse(time.RFC3339, v)
			case "schema":
				b.Schema, _ = strconv.ParseInt(v, 10, 64)
			case "release":
				b.Release = strings.TrimPrefix(v, "-")
			case "kind":
				b.Kind = v
			case "duration_ms":
				ms, _ := strconv.ParseInt(v, 10, 64)
				b.Duration = time.Duration(ms) * time.Millisecond
			case "database":
				b.Database = v
			case "name":
				b.Name = v
			case "wal":
				b.WAL = v
			}
		}
		list = append(list, b)
	}
	return list
}

// Find returns the backup with that id; an unknown one is one line that
// lists the valid ids.
func Find(list []Info, id, host string) (Info, error) {
	var ids []string
	for _, b := range list {
		if b.ID == id {
			return b, nil
		}
		ids = append(ids, b.ID)
	}
	if len(ids) == 0 {
		return Info{}, fmt.Errorf("%s has no backup %q, and no backups at all: take one with `go run mage.go backup`", host, id)
	}
	return Info{}, fmt.Errorf("%s has no backup %q: valid ids are %s (see `go run mage.go backups`)", host, id, strings.Join(ids, ", "))
}

// Path is the dump's path on the server.
func (s Server) Path(id string) string { return s.C.DeployPath + "/backups/" + id + ".dump" }

// dbArgs say where the server's steps find the app's database.
func (s Server) dbArgs() helper.DBArgs {
	return helper.DBArgs{DeployPath: s.C.DeployPath, EnvFile: s.C.EnvFile(), URLVar: s.C.DatabaseURLVar(), User: s.C.ServiceUser}
}

// call runs a helper step and returns its result line's k=v fields; a
// failure is the step's own one line when it printed one.
// maxRun bounds a backup step's transient unit on the server.
const maxRun = 6 * time.Hour

// detached is the transient unit a backup step runs in on the server
// (service.DetachedJob): a client killed mid-step leaves it running to its
// end, and the deploy lock's server side waits for it like a handover.
func (s Server) detached(name, desc string) (*helper.Detached, error) {
	d, err := service.DetachedJob(s.C, name, desc, maxRun)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (s Server) call(ctx context.Context, step string, args any) (map[string]string, error) {
	out, err := client.Call(ctx, s.R, step, args)
	kv, rerr := result(out)
	if err != nil && (rerr == nil || strings.HasPrefix(rerr.Error(), "no result")) {
		return nil, err
	}
	return kv, rerr
}

// result reads the step's last "result ok k=v..." line; "result failed
// MSG" is the error MSG.
func result(out []byte) (map[string]string, error) {
	outcome, rest, _ := strings.Cut(client.Result(out), " ")
	switch outcome {
	case "ok":
		kv := map[string]string{}
		for _, w := range strings.Fields(rest) {
			k, v, _ := strings.Cut(w, "=")
			kv[k] = v
		}
		return kv, nil
	case "failed":
		return nil, errors.New(rest)
	}
	return nil, fmt.Errorf("no result in the server's output:\n%s", bytes.TrimSpace(out))
}

// steps are the script's "step ..." lines.
func steps(out []byte) []string {
	var list []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "step "); ok {
			list = append(list, r)
		}
	}
	return list
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Print writes host's backups as a table.
func Print(w io.Writer, host string, list []Info) {
	fmt.Fprintf(w, "%s: %d backup(s) in its backups/\n", host, len(list))
	if len(list) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tWHEN (UTC)\tSIZE\tSCHEMA\tRELEASE\tKIND")
	for _, b := range list {
		when := "-"
		if !b.When.IsZero() {
			when = b.When.UTC().Format("2006-01-02 15:04:05")
		}
		size := fmt.Sprintf("%.1f MiB", float64(b.Size)/(1<<20))
		if b.Kind == KindPoint {
			size = "WAL " + b.WAL
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", b.ID, when, size, b.Schema, dash(b.Release), dash(b.Kind))
	}
	tw.Flush()
}
