package build

import (
	"debug/elf"
	"fmt"
	"slices"
	"strings"
)

// machines maps each supported GOARCH to the ELF machine its binaries carry.
var machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// Supported lists the GOARCH values buildApp builds for, sorted.
func Supported() []string {
	archs := make([]string, 0, len(machines))
	for a := range machines {
		archs = append(archs, a)
	}
	slices.Sort(archs)
	return archs
}

// checkArch returns the one-line error for a GOARCH that isn't supported.
func checkArch(goarch string) error {
	if _, ok := machines[goarch]; !ok {
		return fmt.Errorf("unsupported GOARCH %q: supported: %s", goarch, strings.Join(Supported(), ", "))
	}
	return nil
}

// VerifyError lists everything wrong with a built binary at once, so one
// failed build tells the whole story.
type VerifyError struct {
	Path     string
	Problems []string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verify %s: %s", e.Path, strings.Join(e.Problems, "; "))
}

// Verify checks that the file at path is what buildApp promises: a 64-bit
// ELF executable for goarch, statically linked (no interpreter, no needed
// shared libraries) and stripped (no symbol table, no DWARF). It reads the
// ELF headers itself rather than parsing `file` output, which varies between
// versions and isn't installed everywhere.
func Verify(path, goarch string) error {
	if err := checkArch(goarch); err != nil {
		return err
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("verify %s: not an ELF file: %w", path, err)
	}
	defer f.Close()

	var problems []string
	if want := machines[goarch]; f.Machine != want || f.Class != elf.ELFCLASS64 {
		problems = append(problems, fmt.Sprintf("built for %s %s, want %s %s (GOARCH=%s)", f.Class, f.Machine, elf.ELFCLASS64, want, goarch))
	}
	if f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("ELF type %s, want %s", f.Type, elf.ET_EXEC))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp := make([]byte, p.Filesz)
			n, _ := p.ReadAt(interp, 0)
			problems = append(problems, fmt.Sprintf("not static: needs interpreter %s", strings.TrimRight(string(interp[:n]), "\x00")))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		problems = append(problems, fmt.Sprintf("not static: unreadable dynamic section: %v", err))
	} else if len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("not static: needs shared libraries %s", strings.Join(libs, ", ")))
	}
	if f.Section(".symtab") != nil {
		problems = append(problems, "not stripped: has a symbol table (.symtab)")
	}
	var dwarf []string
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			dwarf = append(dwarf, s.Name)
		}
	}
	if len(dwarf) > 0 {
		problems = append(problems, fmt.Sprintf("not stripped: has DWARF sections %s", strings.Join(dwarf, ", ")))
	}
	if len(problems) > 0 {
		return &VerifyError{Path: path, Problems: problems}
	}
	return nil
}
