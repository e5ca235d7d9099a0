package helper

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway-dev/slipway/internal/envfile"
)

// The env:* steps, as root (the env file is root's, 0600). The file is
// read and edited here, on the server, by envfile's one parser (a port of
// systemd's): its text never leaves the server, only what the client
// asked of it (names, a keyed hash of each value, or the values for
// env:list -values). Values reach these steps in the request on stdin,
// never in an argument.

func init() {
	Register("env-read", true, envReadStep)
	Register("env-prepare", true, envPrepareStep)
	Register("env-discard", true, envDiscardStep)
	Register("env-install", true, envInstallStep)
}

// What env-read prints of each value.
const (
	EnvNames  = "names"  // "var KEY set" or "var KEY empty"
	EnvSums   = "sums"   // "var KEY <HMAC-SHA256 of the value keyed by Salt>"
	EnvValues = "values" // "var KEY <the value, Go-quoted>"
)

// EnvReadArgs ask for the env file as systemd reads it.
type EnvReadArgs struct {
	EnvFile string `json:"env_file"`
	// Show is EnvNames, EnvSums or EnvValues.
	Show string `json:"show"`
	// Salt keys the sums (EnvSums): hosts compared with one salt give
	// equal sums for equal values, and a sum alone tells nothing.
	Salt string `json:"salt,omitempty"`
}

// envReadStep prints the variables the env file sets, in systemd's order
// ("var KEY ..."), then the lines systemd drops ("skipped <line>
// <reason>"); "result missing" when there is no env file.
func envReadStep(_ context.Context, e *Env, a EnvReadArgs) error {
	if err := checkPath("env file", a.EnvFile); err != nil {
		return err
	}
	switch a.Show {
	case EnvNames, EnvValues:
	case EnvSums:
		if len(a.Salt) < 16 {
			return errors.New("env-read: sums need a salt of 16 bytes or more")
		}
	default:
		return fmt.Errorf("env-read: show %q: want names, sums or values", a.Show)
	}
	text, err := os.ReadFile(e.Path(a.EnvFile))
	if errors.Is(err, os.ErrNotExist) {
		e.Result("missing", a.EnvFile)
		return nil
	}
	if err != nil {
		return err
	}
	f, err := envfile.Parse(text)
	if err != nil {
		return fmt.Errorf("%s: %w", a.EnvFile, err)
	}
	for _, v := range f.Vars() {
		var what string
		switch a.Show {
		case EnvNames:
			what = "set"
			if v.Value == "" {
				what = "empty"
			}
		case EnvSums:
			m := hmac.New(sha256.New, []byte(a.Salt))
			m.Write([]byte(v.Value))
			what = hex.EncodeToString(m.Sum(nil))
		case EnvValues:
			what = strconv.Quote(v.Value)
		}
		fmt.Fprintf(e.Out, "var %s %s\n", v.Key, what)
	}
	for _, s := range f.Skipped {
		fmt.Fprintf(e.Out, "skipped %d %s\n", s.Line, oneLine(s.Reason))
	}
	return nil
}

// EnvPrepareArgs are one env:set or env:unset, checked by the client
// (envfile.Change.Validate) and applied here to the env file.
type EnvPrepareArgs struct {
	EnvFile string `json:"env_file"`
	// Tag names the candidate: .<env file's name>.new-<tag>.
	Tag   string `json:"tag"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	Unset bool   `json:"unset,omitempty"`
}

var envTag = regexp.MustCompile(`^[a-z0-9]{1,20}$`)
var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// candidatePath is the candidate env file of tag beside envFile.
func candidatePath(envFile, tag string) string {
	return filepath.Join(filepath.Dir(envFile), "."+filepath.Base(envFile)+".new-"+tag)
}

// envPrepareStep writes the env file with the change made as a candidate
// beside it (root:root 0600 from its first byte) and prints "candidate
// <path>"; "result ok unchanged" when systemd already reads the file so.
// A hand-edited file (KEY = value, quotes, continuations) is changed where
// systemd reads the key (envfile.File.Apply), and what the parser can't
// read as systemd does is refused in one line. Leftovers of changes that
// died go first: the deploy lock is held, so no handover is using one.
func envPrepareStep(_ context.Context, e *Env, a EnvPrepareArgs) error {
	if err := checkPath("env file", a.EnvFile); err != nil {
		return err
	}
	if !envTag.MatchString(a.Tag) {
		return fmt.Errorf("env-prepare: tag %q: want lower-case letters and digits", a.Tag)
	}
	if !envKey.MatchString(a.Key) {
		return fmt.Errorf("env-prepare: %q is not a setting name", a.Key)
	}
	file := e.Path(a.EnvFile)
	old, _ := filepath.Glob(e.Path(candidatePath(a.EnvFile, "*")))
	for _, p := range append(old, file+".was") {
		_ = os.Remove(p)
	}
	text, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s: run `go run mage.go provision` first", a.EnvFile)
	}
	if err != nil {
		return err
	}
	f, err := envfile.Parse(text)
	if err != nil {
		return fmt.Errorf("%s: %w", a.EnvFile, err)
	}
	cand, changed, err := f.Apply(envfile.Change{Key: a.Key, Value: a.Value, Unset: a.Unset})
	if err != nil {
		return fmt.Errorf("%s: %w", a.EnvFile, err)
	}
	if !changed {
		e.Result("ok", "unchanged")
		return nil
	}
	p := candidatePath(a.EnvFile, a.Tag)
	if err := writeRootOnly(e.Path(p), cand); err != nil {
		return err
	}
	e.Line("candidate", p)
	e.Result("ok", "changed")
	return nil
}

// writeRootOnly writes a new file 0600, owned by root when this runs as
// root, from its first byte.
func writeRootOnly(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := f.Chown(0, 0); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// EnvCandidateArgs name a candidate env-prepare wrote (Candidate) and the
// env file it is beside.
type EnvCandidateArgs struct {
	EnvFile   string `json:"env_file"`
	Candidate string `json:"candidate"`
}

// checkCandidate refuses a path that is not a candidate of the env file.
func checkCandidate(a EnvCandidateArgs) error {
	if err := checkPath("env file", a.EnvFile); err != nil {
		return err
	}
	tag, ok := strings.CutPrefix(a.Candidate, candidatePath(a.EnvFile, ""))
	if !ok || !envTag.MatchString(tag) {
		return fmt.Errorf("%q is not a candidate of %s (want %s)", a.Candidate, a.EnvFile, candidatePath(a.EnvFile, "<tag>"))
	}
	return nil
}

// envDiscardStep removes a candidate that will not go live.
func envDiscardStep(_ context.Context, e *Env, a EnvCandidateArgs) error {
	if err := checkCandidate(a); err != nil {
		return err
	}
	if err := os.Remove(e.Path(a.Candidate)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// envInstallStep puts a candidate in place of the env file in one
// rename (root:root 0600): for a server with no release running, where no
// handover swaps it.
func envInstallStep(_ context.Context, e *Env, a EnvCandidateArgs) error {
	if err := checkCandidate(a); err != nil {
		return err
	}
	c := e.Path(a.Candidate)
	if os.Geteuid() == 0 {
		if err := os.Chown(c, 0, 0); err != nil {
			return err
		}
	}
	if err := os.Chmod(c, 0o600); err != nil {
		return err
	}
	if err := os.Rename(c, e.Path(a.EnvFile)); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("the candidate %s is gone (removed by another change?): run it again", a.Candidate)
		}
		return err
	}
	return nil
}
