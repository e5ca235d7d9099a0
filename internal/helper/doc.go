// Package helper is the half of Slipway that runs on the server, in Go: one
// static binary, slipway-helper, built from this module by the client and
// placed on each server under HelperDir, named after its SHA-256 (verified on
// install, like a release). The client sends short commands:
//
//	sudo -n /usr/local/lib/slipway/slipway-helper-<sha256> <step>
//
// with the step's typed arguments as one JSON Request on stdin (secrets
// included: never argv), and reads the step's lines back on stdout:
// "step ...", "log ...", "why ..." and a last "result <outcome> k=v...".
// A step whose stdin is not its own (psql's, run in a transient unit with
// the user's terminal) takes its request from argv instead, hex-encoded
// (ArgvRequest): it holds no secret.
//
// Each step is a Go function registered with Register, with its own
// argument type. It reaches the machine only through an Env: Env.Root
// prefixes every path it touches and Env.Sys is systemd, so unit tests run
// every step on a temporary folder with a fake systemd (FakeSystemd); the
// sandbox tests run the real binary on a real server.
//
// Client and helper carry Protocol; a helper that speaks another one is
// refused in one line. The client builds the helper once per Slipway
// version (client.Build caches it by version; a development tree of
// Slipway by the hash of its source) and installs it only when the server
// lacks that checksum (client.Call: a missing helper exits 127, or sudo
// says "command not found"; then install.sh puts the upload in place and
// the call is retried).
//
// A step that must not depend on the client's session (the handover,
// restore's swap) runs another step detached (Detach): in a transient
// unit that runs this binary with the request from a root-only file under
// DetachDir, its lines in a file beside it that the step follows and
// relays; a client killed at any point changes nothing.
//
// What is left of shell is install.sh: a few lines, run as root, that take
// named variables and pass shellcheck.
package helper
