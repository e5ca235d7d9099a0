// Package migfiles manages the goose migration files of a folder: it creates
// them with timestamp versions, numbers them sequentially before merge (goose's
// fix, all or nothing), keeps migrations.sum, and checks the folder the way
// CI, buildApp and deploy need.
//
// Two kinds of version coexist, as in goose: while a migration is developed
// on a branch its version is a UTC timestamp (20060102150405), so two branches
// never pick the same number; before merge it becomes the next sequential
// number (00001), so the order on main is the order of merges.
package migfiles

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind tells a timestamp version from a sequential one.
type Kind int

const (
	// Sequential versions are small numbers, 1, 2, 3..., written %05d.
	Sequential Kind = iota + 1
	// Timestamp versions are UTC times written 20060102150405.
	Timestamp
)

// timestampFormat is goose's: a version that parses with it (and is after
// 1970) is a timestamp, anything else is sequential.
const timestampFormat = "20060102150405"

// File is a migration file name that parses as goose would parse it.
type File struct {
	Name    string // base name, e.g. 00001_create_users.sql
	Version int64
	Kind    Kind
}

// ParseName reads the version of a goose SQL migration file name: digits,
// an underscore, a description, ".sql". The rules are goose's
// (NumericComponent, and its timestamp test), except that the version must be
// plain digits (goose would also take "+1").
func ParseName(name string) (File, error) {
	if filepath.Ext(name) != ".sql" {
		return File{}, fmt.Errorf("not a .sql file")
	}
	num, _, ok := strings.Cut(name, "_")
	if !ok {
		return File{}, fmt.Errorf("no version: the name must be <version>_<description>.sql")
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return File{}, fmt.Errorf("version %q is not a number: the name must be <version>_<description>.sql", num)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return File{}, fmt.Errorf("version %s is out of range", num)
	}
	if v < 1 {
		return File{}, fmt.Errorf("version must be greater than zero")
	}
	if isTimestamp(v) {
		return File{Name: name, Version: v, Kind: Timestamp}, nil
	}
	if len(strconv.FormatInt(v, 10)) >= len(timestampFormat) {
		// goose would take it as a huge sequential number and number every
		// later migration after it: almost surely a mistyped timestamp.
		return File{}, fmt.Errorf("version %d is not a valid UTC timestamp (YYYYMMDDhhmmss)", v)
	}
	return File{Name: name, Version: v, Kind: Sequential}, nil
}

// isTimestamp is goose's test (Migrations.timestamped).
func isTimestamp(v int64) bool {
	t, err := time.Parse(timestampFormat, strconv.FormatInt(v, 10))
	return err == nil && t.After(time.Unix(0, 0))
}

// SeqName is the name goose's fix gives a file numbered v: the version
// written %05d, the rest of the name unchanged.
func SeqName(f File, v int64) string {
	_, rest, _ := strings.Cut(f.Name, "_")
	return fmt.Sprintf("%05d_%s", v, rest)
}

// listing is what a folder holds: the files whose names parse, in goose's
// order (version, then name), and a problem for each that doesn't.
type listing struct {
	files    []File
	problems []Problem
}

// list reads the .sql files at the top of dir. Other files (migrations.go,
// migrations.sum) are not migrations and are skipped, as goose skips them.
func list(dir string) (listing, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return listing{}, fmt.Errorf("read migrations: %w", err)
	}
	var l listing
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".sql" {
			continue
		}
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		f, err := ParseName(e.Name())
		if err != nil {
			l.problems = append(l.problems, Problem{
				File: filepath.Join(dir, e.Name()),
				Msg:  "file name does not parse: " + err.Error(),
				Fix:  "rename it to <version>_<description>.sql (go run mage.go newMigration <description> makes one)",
			})
			continue
		}
		l.files = append(l.files, f)
	}
	slices.SortFunc(l.files, func(a, b File) int {
		if a.Version != b.Version {
			return compareInt(a.Version, b.Version)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return l, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// versionProblems finds what goose would refuse or what would break the
// sequential numbering: duplicate versions and gaps in 1..N. Files come
// sorted by version.
func versionProblems(dir string, files []File) []Problem {
	var ps []Problem
	want := int64(1)
	var prev *File
	for i := range files {
		f := &files[i]
		if prev != nil && prev.Version == f.Version {
			ps = append(ps, Problem{
				File: filepath.Join(dir, f.Name),
				Msg:  fmt.Sprintf("version %d is also used by %s (goose refuses duplicate versions)", f.Version, prev.Name),
				Fix:  "give one of them another version, e.g. recreate it with go run mage.go newMigration",
			})
			continue
		}
		prev = f
		if f.Kind != Sequential {
			continue
		}
		if f.Version != want {
			missing := fmt.Sprintf("%05d", want)
			if f.Version > want+1 {
				missing = fmt.Sprintf("%05d to %05d", want, f.Version-1)
			}
			ps = append(ps, Problem{
				File: filepath.Join(dir, f.Name),
				Msg:  fmt.Sprintf("versions are not contiguous from 1: %s missing before it", missing),
				Fix:  "restore the missing migration, or renumber this one and the ones after it to close the gap",
			})
		}
		want = f.Version + 1
	}
	return ps
}
