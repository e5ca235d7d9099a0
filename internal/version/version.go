// Package version holds the build stamp that buildApp writes with -ldflags -X.
//
// No timestamp is stamped on purpose: two builds of one commit must be
// byte-identical.
package version

import "runtime"

// Version is the release version (a git tag or `git describe` output, with
// "+dirty" when the tree had uncommitted changes). Set at link time.
var Version = "dev"

// Commit is the full git commit hash the binary was built from. Set at link time.
var Commit = "unknown"

// DatabaseURL is the name of the environment variable the app reads its
// database URL from, when the build set one: buildApp and dev stamp
// targets.Project.DatabaseURL, so that an adopter names it in one place
// (its magefile). "" leaves it to app.Config.DatabaseURL, else DATABASE_URL.
var DatabaseURL = ""

// Info is the stamp as served by /version and printed by `app version`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get returns the stamp of the running binary.
func Get() Info {
	return Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
}
