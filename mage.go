//go:build ignore

// Zero-install bootstrap: `go run mage.go <target>` runs the targets in
// magefile.go without a mage binary on PATH.
package main

import "github.com/slipway-dev/slipway/targets/bootstrap"

func main() { bootstrap.Main() }
