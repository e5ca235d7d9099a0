package service

// Hardening is the sandboxing of the app's service, as unit properties
// (Key=Value), in the order the unit lists them. The service unit renders
// them, and createAdmin passes them to its transient unit (systemd-run -p):
// one list, so a command run "as the app" can never do more than the app.
// With them `systemd-analyze security` rates the service 1.1 OK.
func Hardening(c Config) []string {
	return []string{
		"NoNewPrivileges=yes",
		"CapabilityBoundingSet=",
		"AmbientCapabilities=",
		"ProtectSystem=strict",
		// Home directories are replaced by an empty tmpfs (the admin's ~/.ssh
		// stays invisible) holding only the releases, read-only. An instance
		// runs releases/<id>/app; what runs current/app (createAdmin, the old
		// layout's unit) binds the current symlink as well (CurrentBind).
		"ProtectHome=tmpfs",
		"BindReadOnlyPaths=" + c.ReleasesDir(),
		"PrivateTmp=yes",
		"PrivateDevices=yes",
		"DevicePolicy=closed",
		"PrivateUsers=yes",
		"PrivateMounts=yes",
		"ProtectKernelTunables=yes",
		"ProtectKernelModules=yes",
		"ProtectKernelLogs=yes",
		"ProtectControlGroups=yes",
		"ProtectClock=yes",
		"ProtectHostname=yes",
		"ProtectProc=invisible",
		"ProcSubset=pid",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"RestrictNamespaces=yes",
		"RestrictRealtime=yes",
		"RestrictSUIDSGID=yes",
		"LockPersonality=yes",
		"MemoryDenyWriteExecute=yes",
		"RemoveIPC=yes",
		"UMask=0077",
		"SystemCallArchitectures=native",
		"SystemCallFilter=@system-service",
		"SystemCallFilter=~@privileged @resources",
		"SystemCallErrorNumber=EPERM",
	}
}

// CurrentBind makes the current symlink visible under ProtectHome=tmpfs, for
// what runs current/app. It resolves when the unit starts, so it must exist:
// an instance, which may start before the first switch, doesn't use it.
func CurrentBind(c Config) string { return "BindReadOnlyPaths=" + c.CurrentLink() }
