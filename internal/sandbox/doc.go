// Package sandbox boots a real Debian server on this machine: a minimal
// bookworm root built once with debootstrap, booted with systemd-nspawn, with
// sshd on a free loopback port, an `admin` user with passwordless sudo and a
// PostgreSQL database for the app. It is what a user gets from a fresh VPS,
// and the test bed for deploy, systemd and admin behaviour.
//
// The base root is cached read-only under the cache dir, keyed by its recipe
// (suite, package list, setup script). Each instance boots it with
// --volatile=overlay: writes land in a tmpfs inside the container's own mount
// namespace, so stopping the container leaves no mount and no changed file on
// the host, and any number of instances can share one base. Per-instance
// secrets (host key, admin key, sshd port) are bind-mounted read-only from the
// instance's state dir.
//
// The container shares the host's network namespace: its loopback is the
// host's loopback. sshd listens on 127.0.0.1 at a port picked free at up
// time; PostgreSQL listens on its unix socket only; an app inside the sandbox
// must likewise pick a port free on the host (internal/freeport).
//
// A private sandbox (WithNetwork) has a network namespace of its own instead:
// NewNetwork makes a bridge on this machine with a free 10.x.y.0/24 (picked
// under a lock, so concurrent test binaries never collide) and this machine
// at .1; systemd-nspawn --network-bridge adds a veth pair, and
// systemd-networkd gives the sandbox's host0 a static address from a file
// injected per instance, with no gateway. The sandboxes reach each other and
// this machine, nothing else: no default route, no NAT, forwarding off on the
// bridge. sshd listens on port 22 there, and the sandbox keeps CAP_NET_ADMIN,
// so a firewall inside applies to it alone. Such a sandbox boots from a
// third base, "private", with every package the tests install preinstalled.
package sandbox
