package service

import "strings"

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

// rootJob is the sandboxing shared by what Slipway runs as root on the
// server (the boot anchor, the handover, backups and restores): whatever
// runs as root keeps only the capabilities in caps, sees the system
// read-only but for rw, and reaches only families' sockets; systemctl
// reaches PID 1 over AF_UNIX, and journalctl only reads. allow adds system
// call groups back to the filter for jobs that change ownership or users.
func rootJob(caps string, rw []string, families string, allow ...string) []string {
	p := []string{
		"NoNewPrivileges=yes",
		"CapabilityBoundingSet=" + caps,
		"AmbientCapabilities=",
		"ProtectSystem=strict",
		"ProtectHome=read-only",
	}
	for _, d := range rw {
		// "-": a missing one (no env folder yet) must not stop the unit
		// before its script can say what is wrong.
		p = append(p, "ReadWritePaths=-"+d)
	}
	p = append(p,
		"PrivateTmp=yes",
		"PrivateDevices=yes",
		"DevicePolicy=closed",
		"PrivateMounts=yes",
		"ProtectKernelTunables=yes",
		"ProtectKernelModules=yes",
		"ProtectKernelLogs=yes",
		"ProtectControlGroups=yes",
		"ProtectClock=yes",
		"ProtectHostname=yes",
		"ProtectProc=invisible",
		"ProcSubset=pid",
		"RestrictAddressFamilies="+families,
		"RestrictNamespaces=yes",
		"RestrictRealtime=yes",
		"RestrictSUIDSGID=yes",
		"LockPersonality=yes",
		"MemoryDenyWriteExecute=yes",
		"UMask=0077",
		"SystemCallArchitectures=native",
		"SystemCallFilter=@system-service",
		"SystemCallFilter=~@privileged @resources",
	)
	if len(allow) > 0 {
		p = append(p, "SystemCallFilter="+strings.Join(allow, " "))
	}
	return append(p, "SystemCallErrorNumber=EPERM")
}

// NotifyHardening is the sandboxing of the alert template
// (app-notify@.service): root, with no capability, that reads and writes
// nothing but reaches the network (the webhook) and PID 1 (the failed
// unit's result).
func NotifyHardening() []string {
	return rootJob("", nil, "AF_UNIX AF_INET AF_INET6")
}

// CurrentHardening is the sandboxing of the boot anchor (app-current.service,
// root): it reads the current symlink (in a home directory of mode 0700:
// CAP_DAC_READ_SEARCH) and asks PID 1 to start that release's instance. No
// network at all, nothing writable.
func CurrentHardening(c Config) []string {
	return append(rootJob("CAP_DAC_READ_SEARCH", nil, "AF_UNIX"), "PrivateNetwork=yes", "IPAddressDeny=any")
}

// HandoverHardening is the sandboxing of the handover's transient unit
// (root): it writes the symlinks and deploy.log in DeployPath (the deploy
// user's: CAP_DAC_OVERRIDE, CAP_CHOWN to keep them that user's), renames
// the env file in EnvDir, removes the old layout's unit from UnitDir and
// its own request file from /run/slipway, and drives systemctl and
// journalctl. No network.
func HandoverHardening(c Config) []string {
	return append(rootJob("CAP_DAC_OVERRIDE CAP_CHOWN", []string{c.DeployPath, c.EnvDir(), UnitDir, "/run"}, "AF_UNIX", "@chown"),
		"PrivateNetwork=yes", "IPAddressDeny=any")
}

// DetachedHardening is the sandboxing of Detached's transient units (root):
// backups and restores write DeployPath's backups folder and /run, run
// psql, pg_dump and pg_restore as the service user and the postgres user
// (runuser: CAP_SETUID, CAP_SETGID, and the setrlimit calls of its PAM
// session's pam_limits, without which it "cannot open session"), keep
// files the deploy user's (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER) and
// reach the database, which DATABASE_URL may put on another host (AF_INET,
// AF_INET6).
func DetachedHardening(c Config) []string {
	return rootJob("CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER CAP_SETUID CAP_SETGID",
		[]string{c.DeployPath, c.EnvDir(), "/run"}, "AF_UNIX AF_INET AF_INET6", "@chown @setuid @resources")
}
