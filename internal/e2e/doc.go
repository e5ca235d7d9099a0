// Package e2e rehearses the README's production flow end to end on the
// sandbox server, through the same `go run mage.go <target>` commands a
// person types, with the faults a real release meets on the way. It holds
// only tests (and this comment).
package e2e
