package remote

import "fmt"

// HostEntry is an ssh config `Host` block for a server on 127.0.0.1 (a
// sandbox, a test sshd, a proxy in front of either): one key, offered alone,
// and strict host key checking against its own known_hosts file. Deploy
// reads what OpenSSH reads, so the block works for ssh, scp and deploy alike.
func HostEntry(alias string, port int, user, keyPath, knownHostsPath string) string {
	return fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
`, alias, port, user, keyPath, knownHostsPath)
}
