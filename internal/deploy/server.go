package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/remote"
	"github.com/slipway-dev/slipway/internal/service"
	"github.com/slipway-dev/slipway/internal/slipversion"
)

// Server is one host's connection and the app's layout on it.
type Server struct {
	Alias string
	// Stamp is the server's .slipway as connect read it.
	Stamp slipversion.Stamp
	c     *remote.Client
	svc   service.Config
	// servingAt is when the last handover's new instance was ready to
	// serve, on this machine's clock (readyAt); zero if none was.
	servingAt time.Time
}

// Release is a release folder on the server.
type Release struct {
	ID      string
	SHA256  string
	Version Version
}

// State is what the server holds, read in one round trip.
type State struct {
	Arch     string // GOARCH of `uname -m`
	Uname    string
	Current  string // release id, "" if none
	Previous string
	Releases []Release // oldest first
	Missing  []string  // tools deploy needs that the server lacks
	Uploads  []string  // leftovers of uploads that died (releases/.upload-*)
}

// Release returns the release with that id.
func (s State) Release(id string) (Release, bool) {
	for _, r := range s.Releases {
		if r.ID == id {
			return r, true
		}
	}
	return Release{}, false
}

// BySHA returns the newest release holding that binary.
func (s State) BySHA(sha string) (Release, bool) {
	for i := len(s.Releases) - 1; i >= 0; i-- {
		if s.Releases[i].SHA256 == sha {
			return s.Releases[i], true
		}
	}
	return Release{}, false
}

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)

func (s *Server) inspect(ctx context.Context) (State, error) {
	out, err := callStep(ctx, s.c, "inspect", helper.DeployPathArgs{DeployPath: s.svc.DeployPath})
	if err != nil {
		return State{}, fmt.Errorf("read releases on %s: %w", s.Alias, err)
	}
	var st State
	versions := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "uname":
			st.Uname = val
			st.Arch = unameArch[val]
		case "missing":
			st.Missing = append(st.Missing, val)
		case "current":
			st.Current = releaseOf(val)
		case "previous":
			st.Previous = releaseOf(val)
		case "release":
			id, sha, _ := strings.Cut(val, " ")
			if idRE.MatchString(id) {
				st.Releases = append(st.Releases, Release{ID: id, SHA256: sha})
			}
		case "version":
			id, line, _ := strings.Cut(val, " ")
			versions[id] = append(versions[id], line)
		case "upload":
			st.Uploads = append(st.Uploads, val)
		}
	}
	for i, r := range st.Releases {
		st.Releases[i].Version = parseVersion(strings.Join(versions[r.ID], "\n"))
	}
	slices.SortFunc(st.Releases, func(a, b Release) int { return strings.Compare(a.ID, b.ID) })
	return st, nil
}

// releaseOf turns a link target (releases/<id>) into the id.
func releaseOf(target string) string {
	id := path.Base(strings.TrimSuffix(target, "/"))
	if idRE.MatchString(id) {
		return id
	}
	return ""
}

func (s *Server) path(p ...string) string {
	return path.Join(append([]string{s.svc.DeployPath}, p...)...)
}

// appendLog adds one line to deploy.log.
func (s *Server) appendLog(ctx context.Context, line string) error {
	_, err := callStep(ctx, s.c, "deploy-log", helper.DeployLogArgs{DeployPath: s.svc.DeployPath, Line: line})
	if err != nil {
		return fmt.Errorf("log on %s: %w", s.Alias, err)
	}
	return nil
}

// prune removes the oldest releases beyond keep, never current or previous,
// and the leftovers of uploads that died.
func (s *Server) prune(ctx context.Context, st State, keep int) ([]string, error) {
	var remove []string
	n := len(st.Releases)
	for i, r := range st.Releases {
		if n-i > keep && r.ID != st.Current && r.ID != st.Previous {
			remove = append(remove, "releases/"+r.ID)
		}
	}
	for _, u := range st.Uploads {
		remove = append(remove, "releases/"+u)
	}
	if len(remove) == 0 {
		return nil, nil
	}
	if _, err := callStep(ctx, s.c, "prune", helper.PruneArgs{DeployPath: s.svc.DeployPath, Remove: remove}); err != nil {
		return remove, fmt.Errorf("prune on %s: %w", s.Alias, err)
	}
	return remove, nil
}
