package sandbox

import (
	"fmt"
	"os"
	"slices"
	"syscall"
)

// mountRoot mounts the instance's persistent root: an overlay of base whose
// upper layer is in the state dir, so writes stay on disk across boots.
func (s *Sandbox) mountRoot(base string) (string, error) {
	root, upper, work := s.path(rootDir), s.path(upperDir), s.path(workDir)
	for _, d := range []string{root, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("persistent root: %w", err)
		}
	}
	if m, err := mountsUnder(root); err != nil {
		return "", err
	} else if slices.Contains(m, root) {
		return root, nil
	}
	opts := "lowerdir=" + base + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("persistent root: mount overlay on %s: %w", root, err)
	}
	return root, nil
}

// unmountRoot unmounts the persistent root (a no-op when none is mounted).
func (s *Sandbox) unmountRoot() error {
	m, err := mountsUnder(s.path(rootDir))
	if err != nil {
		return err
	}
	for i := len(m) - 1; i >= 0; i-- {
		if err := syscall.Unmount(m[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", m[i], err)
		}
	}
	return nil
}
