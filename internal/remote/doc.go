// Package remote is Slipway's SSH client: it reaches a server by the alias a
// user already has in ~/.ssh/config, exactly as OpenSSH would, and runs
// commands, HTTP requests and uploads over that one connection.
//
// Resolution is delegated to the local `ssh -G`: a library parser gets Match,
// Include and token expansion subtly wrong, and a deploy that connects
// somewhere other than where `ssh alias` goes is worse than no deploy.
// Everything after resolution is golang.org/x/crypto/ssh, hardened: host keys
// are always checked against known_hosts (host key algorithms negotiated from
// what it holds), the handshake is bounded, and keys come from the agent and
// the IdentityFiles the config names.
package remote
