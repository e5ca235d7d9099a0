// Package e2e rehearses the README's production flow end to end on the
// sandbox server, through the same `go run mage.go <target>` commands a
// person types, with the faults a real release meets on the way; and it
// checks that a copy of the repository renamed to another module path, the
// way gonew starts a new project from Slipway, still vets, builds and
// passes the fast tests. It holds only tests (and this comment).
package e2e
