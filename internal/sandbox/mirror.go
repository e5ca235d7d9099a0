package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// aptSource is one `deb` line or deb822 stanza of the host's apt sources.
type aptSource struct {
	uris   []string
	suites []string
}

// hostMirror picks the Debian mirror debootstrap should use from the host's
// apt sources (etc is the host's /etc/apt as an fs.FS): the machine may have
// no other network than that mirror. A source listing the suite itself wins
// over one listing only its -updates or -security pockets.
func hostMirror(etc fs.FS, suite string) (string, error) {
	srcs, err := readAptSources(etc)
	if err != nil {
		return "", err
	}
	for _, s := range srcs {
		if slices.Contains(s.suites, suite) && len(s.uris) > 0 {
			return s.uris[0], nil
		}
	}
	for _, s := range srcs {
		for _, su := range s.suites {
			if !strings.Contains(su, "security") && len(s.uris) > 0 {
				return s.uris[0], nil
			}
		}
	}
	return "", fmt.Errorf("no apt source for %s in /etc/apt (set SANDBOX_MIRROR)", suite)
}

func readAptSources(etc fs.FS) ([]aptSource, error) {
	var srcs []aptSource
	files := []string{"sources.list"}
	entries, err := fs.ReadDir(etc, "sources.list.d")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	for _, e := range entries {
		// apt itself reads only these two suffixes: "x.list.disabled" is off.
		if n := e.Name(); strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			files = append(files, path.Join("sources.list.d", n))
		}
	}
	for _, f := range files {
		b, err := fs.ReadFile(etc, f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		if strings.HasSuffix(f, ".sources") {
			srcs = append(srcs, parseDeb822(string(b))...)
		} else {
			srcs = append(srcs, parseOneLine(string(b))...)
		}
	}
	return srcs, nil
}

// parseOneLine reads "deb [options] uri suite component..." lines.
func parseOneLine(text string) []aptSource {
	var srcs []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		srcs = append(srcs, aptSource{uris: f[:1], suites: f[1:2]})
	}
	return srcs
}

// parseDeb822 reads the stanzas of a .sources file (blank-line separated,
// "Key: value" fields, continuation lines start with a space).
func parseDeb822(text string) []aptSource {
	var srcs []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		last := ""
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && last != "" {
				fields[last] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		if !slices.Contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		srcs = append(srcs, aptSource{uris: strings.Fields(fields["uris"]), suites: strings.Fields(fields["suites"])})
	}
	return srcs
}
