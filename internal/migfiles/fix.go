package migfiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Rename is one timestamp migration getting its sequential number.
type Rename struct {
	From, To               string // base names
	FromVersion, ToVersion int64
}

// Plan is what fixMigrations will do to a folder, worked out and validated
// before anything is touched.
type Plan struct {
	Dir     string
	Renames []Rename
	// Recorded lists the files whose hash the new SumFile adds or changes.
	Recorded []string
	// Dropped lists SumFile entries -rehash removes (no such numbered file).
	Dropped []string

	oldSum []byte // nil when there was no SumFile
	newSum []byte
}

// Changes reports whether applying the plan would change anything.
func (p *Plan) Changes() bool {
	return len(p.Renames) > 0 || !bytes.Equal(p.oldSum, p.newSum)
}

// Versions maps each timestamp version to its new sequential number: what
// a database that applied them needs remapped.
func (p *Plan) Versions() map[int64]int64 {
	m := make(map[int64]int64, len(p.Renames))
	for _, r := range p.Renames {
		m[r.FromVersion] = r.ToVersion
	}
	return m
}

// Numbered is the sequential files the folder will hold once the plan is
// applied, by version.
func (p *Plan) Numbered() ([]File, error) {
	l, err := list(p.Dir)
	if err != nil {
		return nil, err
	}
	renamed := map[string]Rename{}
	for _, r := range p.Renames {
		renamed[r.From] = r
	}
	var out []File
	for _, f := range l.files {
		if r, ok := renamed[f.Name]; ok {
			f = File{Name: r.To, Version: r.ToVersion, Kind: Sequential}
		}
		if f.Kind == Sequential {
			out = append(out, f)
		}
	}
	return out, nil
}

// PlanFix works out goose's fix for dir: every timestamp migration, oldest
// first, gets the next sequential number after the last numbered one,
// written %05d with the rest of its name kept. It refuses, with a
// *ProblemsError listing everything at once, when a name doesn't parse,
// versions are duplicated (goose.Fix would panic), the numbered versions
// have a gap, a new name is taken, or the SumFile is damaged.
//
// The new SumFile keeps the recorded hashes and adds those of the files it
// numbers. With rehash it records every numbered file as it is now instead:
// the documented way to accept an intended edit.
func PlanFix(dir string, rehash bool) (*Plan, error) {
	l, err := list(dir)
	if err != nil {
		return nil, err
	}
	problems := append(l.problems, versionProblems(dir, l.files)...)

	p := &Plan{Dir: dir}
	next := int64(1)
	for _, f := range l.files {
		if f.Kind == Sequential {
			next = f.Version + 1
		}
	}
	for _, f := range l.files {
		if f.Kind != Timestamp {
			continue
		}
		r := Rename{From: f.Name, To: SeqName(f, next), FromVersion: f.Version, ToVersion: next}
		if _, err := os.Lstat(filepath.Join(dir, r.To)); !errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, Problem{File: filepath.Join(dir, f.Name), Msg: "would become " + r.To + ", which already exists",
				Fix: "move that file away or rename this migration"})
		}
		p.Renames = append(p.Renames, r)
		next++
	}

	recorded, raw, sumProbs, err := readSum(dir)
	if err != nil {
		return nil, err
	}
	p.oldSum = raw
	if !rehash {
		// A damaged sum would be re-totalled by the rewrite, blessing the
		// damage silently: only an explicit -rehash may do that.
		problems = append(problems, sumProbs...)
	}
	if len(problems) > 0 {
		return nil, &ProblemsError{Action: "fixMigrations changed nothing", Problems: problems}
	}

	numbered, err := p.Numbered()
	if err != nil {
		return nil, err
	}
	hashes := sum{}
	if !rehash {
		for n, h := range recorded {
			hashes[n] = h
		}
	}
	renamed := map[string]Rename{} // by new name
	for _, r := range p.Renames {
		renamed[r.To] = r
	}
	current := map[string]bool{}
	for _, f := range numbered {
		current[f.Name] = true
		if _, ok := renamed[f.Name]; !rehash && !ok {
			continue
		}
		from := f.Name
		if r, ok := renamed[f.Name]; ok {
			from = r.From
		}
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		hashes[f.Name] = hashOf(b)
		if recorded[f.Name] != hashes[f.Name] {
			p.Recorded = append(p.Recorded, f.Name)
		}
	}
	if rehash {
		for n := range recorded {
			if !current[n] {
				p.Dropped = append(p.Dropped, n)
			}
		}
	}
	if len(hashes) > 0 || raw != nil {
		p.newSum = hashes.bytes()
	}
	return p, nil
}

// Apply renames the files and writes the SumFile, then calls commit (the
// database side of the fix; nil for none). All or nothing: when a rename,
// the write or commit fails, every rename done is reverted and the old
// SumFile restored before the error is returned.
//
// Files go first because renames are cheap to undo and a failed commit
// leaves the database as it was, while a committed transaction can't be
// taken back if a rename failed after it.
func (p *Plan) Apply(commit func() error) error {
	var done []Rename
	undo := func(cause error) error {
		errs := []error{cause}
		for i := len(done) - 1; i >= 0; i-- {
			r := done[i]
			if err := os.Rename(filepath.Join(p.Dir, r.To), filepath.Join(p.Dir, r.From)); err != nil {
				errs = append(errs, fmt.Errorf("undo rename %s: %w", r.To, err))
			}
		}
		sumPath := filepath.Join(p.Dir, SumFile)
		var err error
		if p.oldSum == nil {
			err = os.Remove(sumPath)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			err = writeFileAtomic(sumPath, p.oldSum)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", SumFile, err))
		}
		return errors.Join(errs...)
	}
	for _, r := range p.Renames {
		from, to := filepath.Join(p.Dir, r.From), filepath.Join(p.Dir, r.To)
		// os.Rename would replace a file created since PlanFix looked.
		if _, err := os.Lstat(to); !errors.Is(err, fs.ErrNotExist) {
			return undo(fmt.Errorf("rename %s: %s exists", r.From, r.To))
		}
		if err := os.Rename(from, to); err != nil {
			return undo(fmt.Errorf("rename migration: %w", err))
		}
		done = append(done, r)
	}
	if !bytes.Equal(p.oldSum, p.newSum) {
		if err := writeFileAtomic(filepath.Join(p.Dir, SumFile), p.newSum); err != nil {
			return undo(fmt.Errorf("write %s: %w", SumFile, err))
		}
	}
	if commit != nil {
		if err := commit(); err != nil {
			return undo(err)
		}
	}
	return nil
}
