// Package service runs the app on a server as hardened systemd units, one
// instance per release, switched without dropping a request.
//
// It renders three units from embedded templates, named after the app:
// <app>.socket owns the listening socket, shared by every instance, so the
// kernel keeps accepting whichever instance runs; <app>@.service runs one
// release (<app>@<release>.service, or <release>.g<n> for env:set's second
// instance of the live release) as a dedicated unprivileged user under
// Type=notify (the app says READY=1 once migrated and ready), with the
// sandboxing of Hardening (`systemd-analyze security` exposure ≤ 2); and
// <app>-current.service, the socket's own service, starts at boot the
// release DEPLOY_PATH/current names.
//
// Handover makes a release live: its instance starts beside the live one on
// the socket, and current and previous switch, and the old instance stops,
// only once it is ready; it runs on the server in a transient unit of its
// own (HandoverUnitFor), so a client killed at any point leaves the server
// finishing or undoing it. Provision does the one-time set-up (checkServer
// first refuses names that belong to the server), Ensure installs changed
// units before each deploy, Instances lists what runs, Logs reads the
// journal, DetachedJob names the transient unit of a backup or a restore.
//
// Everything on the server goes through a Runner (an SSH connection) and is
// a step of slipway-helper (package helper): this package builds the
// steps' arguments and reads their lines.
package service
