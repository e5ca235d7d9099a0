// Command slipway-helper is the server side of Slipway's deploy targets. The
// client builds it, puts it on the server and runs its steps; see package
// helper. It is not meant to be run by hand.
package main

import "github.com/slipway-dev/slipway/internal/helper"

func main() { helper.Main() }
