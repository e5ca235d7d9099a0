// Package migrations embeds the app's goose SQL migrations so the binary
// carries its own schema and applies it at startup.
package migrations

import "embed"

// FS holds every *.sql migration at its top level, the layout goose's
// Provider expects.
//
//go:embed *.sql
var FS embed.FS
