package migfiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// template is goose's own (`goose create NAME sql`), so files look the same
// whichever tool made them.
const template = `-- +goose Up
SELECT 'up SQL query';

-- +goose Down
SELECT 'down SQL query';
`

// validName is a snake_case description: it becomes part of the file name
// on every developer's disk and in goose's logs.
var validName = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// ValidateName refuses names that would make a bad file name: empty, with
// spaces, path separators, upper case or punctuation.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("migration name is empty: give a description such as add_orders")
	}
	if len(name) > 100 {
		return fmt.Errorf("migration name is %d characters long: keep it under 100", len(name))
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("bad migration name %q: use lower-case letters, digits and single underscores, such as add_orders", name)
	}
	return nil
}

// Create writes dir/<UTC timestamp>_<name>.sql with goose's Up and Down
// sections and returns its path. The version is now in UTC, as goose create
// does; when a migration in dir already has that version (two created in
// the same second) it takes the next free second instead.
func Create(dir, name string, now time.Time) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	l, err := list(dir)
	if err != nil {
		return "", err
	}
	used := map[int64]bool{}
	for _, f := range l.files {
		used[f.Version] = true
	}
	t := now.UTC()
	v := timestampVersion(t)
	for used[v] {
		t = t.Add(time.Second)
		v = timestampVersion(t)
	}
	path := filepath.Join(dir, fmt.Sprintf("%d_%s.sql", v, name))
	// O_EXCL: never overwrite, even if another process created it since.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("create migration: %w", err)
	}
	if _, err := f.WriteString(template); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write migration: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write migration: %w", err)
	}
	return path, nil
}

func timestampVersion(t time.Time) int64 {
	v, _ := strconv.ParseInt(t.Format(timestampFormat), 10, 64)
	return v
}
