package migfiles

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SumFile records a hash of every numbered migration, like Atlas's
// atlas.sum: a migration edited after it was numbered (and so perhaps
// already applied somewhere) no longer matches and checkMigrations names it.
//
// The format is line based so that merges show what changed:
//
//	h1:<total>
//	00001_create_users.sql h1:<hash>
//	00002_add_orders.sql h1:<hash>
//
// <hash> is the standard base64 of the SHA-256 of the file's bytes; <total>
// the same over every line after the first (each with its newline), which
// catches a sum edited by hand. Files are listed by version. Timestamp
// migrations are not recorded: they are still being developed.
const SumFile = "migrations.sum"

// sum is the content of a SumFile: file name → "h1:..." hash.
type sum map[string]string

// hashOf is the h1 hash of a file's bytes.
func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return "h1:" + base64.StdEncoding.EncodeToString(h[:])
}

// bytes renders the sum in its file format, files by version.
func (s sum) bytes() []byte {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		fa, ea := ParseName(a)
		fb, eb := ParseName(b)
		if ea == nil && eb == nil && fa.Version != fb.Version {
			return compareInt(fa.Version, fb.Version)
		}
		return strings.Compare(a, b)
	})
	var body bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&body, "%s %s\n", n, s[n])
	}
	return append([]byte(hashOf(body.Bytes())+"\n"), body.Bytes()...)
}

// readSum reads dir's SumFile. raw is nil when there is none. Lines that
// don't parse and a total that doesn't match are problems, not errors:
// checkMigrations lists them with the rest.
func readSum(dir string) (s sum, raw []byte, problems []Problem, err error) {
	path := filepath.Join(dir, SumFile)
	raw, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sum{}, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read %s: %w", SumFile, err)
	}
	s = sum{}
	rehash := "accept the files as they are with go run mage.go fixMigrations -rehash"
	total, body, ok := bytes.Cut(raw, []byte("\n"))
	if !ok || !bytes.HasPrefix(total, []byte("h1:")) {
		return s, raw, []Problem{{File: path, Line: 1, Msg: "first line is not the h1: total hash", Fix: rehash}}, nil
	}
	if string(total) != hashOf(body) {
		problems = append(problems, Problem{File: path, Line: 1, Msg: "edited by hand: the total hash does not match the lines below it", Fix: "undo the edit, or " + rehash})
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	n := 1
	for sc.Scan() {
		n++
		name, hash, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(hash, "h1:") || name == "" {
			problems = append(problems, Problem{File: path, Line: n, Msg: fmt.Sprintf("line %q is not `<file> h1:<hash>`", sc.Text()), Fix: rehash})
			continue
		}
		if _, dup := s[name]; dup {
			problems = append(problems, Problem{File: path, Line: n, Msg: name + " is recorded twice", Fix: rehash})
		}
		s[name] = hash
	}
	return s, raw, problems, nil
}

// sumProblems compares the numbered files of dir with its SumFile.
func sumProblems(dir string, files []File) ([]Problem, error) {
	recorded, raw, problems, err := readSum(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, SumFile)
	var numbered []File
	for _, f := range files {
		if f.Kind == Sequential {
			numbered = append(numbered, f)
		}
	}
	if raw == nil {
		if len(numbered) == 0 {
			return nil, nil
		}
		return []Problem{{File: path, Msg: "missing: the numbered migrations have no recorded hashes", Fix: "create it with go run mage.go fixMigrations -rehash and commit it"}}, nil
	}
	seen := map[string]bool{}
	for _, f := range numbered {
		seen[f.Name] = true
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		want, ok := recorded[f.Name]
		switch {
		case !ok:
			problems = append(problems, Problem{File: filepath.Join(dir, f.Name), Msg: "numbered but not recorded in " + SumFile + " (numbered by hand?)",
				Fix: "let go run mage.go fixMigrations number timestamp migrations, or record this one with go run mage.go fixMigrations -rehash"})
		case want != hashOf(b):
			problems = append(problems, Problem{File: filepath.Join(dir, f.Name), Msg: "edited after it was numbered (its hash differs from " + SumFile + ")",
				Fix: "revert the edit and make the change in a new migration (go run mage.go newMigration); if the edit is intended, accept it with go run mage.go fixMigrations -rehash"})
		}
	}
	for name := range recorded {
		if !seen[name] {
			problems = append(problems, Problem{File: path, Msg: "records " + name + ", which is not a numbered migration in " + dir,
				Fix: "restore the file; if it was removed or renamed on purpose, run go run mage.go fixMigrations -rehash"})
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
	return problems, nil
}

// writeFileAtomic replaces path with data: readers see the old or the new
// file, never half of one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
