set -eu
apt-get clean
# Host keys and machine id are per instance; an empty machine-id makes systemd
# generate one at boot.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
echo sandbox > /etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
# admin: key-only login ('*' is no password, unlike '!' it is not "locked").
useradd --create-home --shell /bin/bash --groups sudo --password '*' admin
install -d -m 700 -o admin -g admin /home/admin/.ssh
echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin
chmod 440 /etc/sudoers.d/admin
# Mount points for the per-instance files.
touch /home/admin/.ssh/authorized_keys /etc/ssh/sshd_config.d/sandbox.conf
# The image is complete: create what sysusers.d asks for now and mark /etc
# and /var up to date with /usr. Otherwise ConditionNeedsUpdate runs
# systemd-sysusers, ldconfig and the catalog update at every boot, and once,
# with two instances booting at the same time, sysusers failed and left the
# boot degraded (CI, stop 33).
systemd-sysusers
touch /etc/.updated /var/.updated
