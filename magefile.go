//go:build mage

// Slipway's release automation. This file is a table of contents: each target
// is a doc comment (its first sentence is the `go run mage.go -l` help line)
// and a few lines calling the internal/ package that does the work.
package main

import (
	"github.com/magefile/mage/mg"
)

// Keep mage in go.mod: only mage.go (build-ignored) imports it otherwise.
var _ mg.Namespace

// ---- build ----

// ---- sandbox ----

// ---- migrations ----
