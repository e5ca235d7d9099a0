// Package service runs the app on a server as a hardened systemd service that
// restarts without dropping a request.
//
// It renders two units from embedded templates, named after the app:
// <app>.socket owns the listening socket, so the kernel keeps accepting while
// <app>.service restarts; <app>.service runs <DEPLOY_PATH>/current/app serve
// as a dedicated unprivileged user under Type=notify (the app says READY=1
// after its migrations), with the sandboxing that brings
// `systemd-analyze security` exposure down to 1.1.
//
// Everything on the server goes through a Runner (an SSH connection, or a
// command runner inside the test sandbox): Provision does the one-time set-up,
// Ensure installs changed units for deploy, Logs reads the service's
// journal. Their server side is slipway-helper's steps (package helper):
// guard reports what the server already has under the app's names, which
// checkServer judges; provision-prepare, provision-database,
// provision-legacy, provision-enable and ensure-units change it, each
// idempotent. Bench measures requests lost during deploys against a plain
// stop-copy-start.
package service
