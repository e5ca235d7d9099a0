package deploy

import (
	"strings"
	"testing"
)

// TestCISettingsAreCheckedWithTheOthers: the DEPLOY_SSH_* settings are
// refused when the settings are read, with the rest, before any host is
// contacted; one address can't serve several hosts.
func TestCISettingsAreCheckedWithTheOthers(t *testing.T) {
	env := map[string]string{
		"DEPLOY_HOST":         "web-1,web-2",
		"DEPLOY_SSH_HOSTNAME": "203.0.113.10",
		"DEPLOY_SSH_USER":     "deploy",
		"DEPLOY_SSH_PORT":     "0",
		"DEPLOY_KEEP":         "1",
	}
	_, err := FromEnv(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`DEPLOY_SSH_PORT="0": use a TCP port number`,
		`DEPLOY_HOST="web-1,web-2" names several hosts, but DEPLOY_SSH_HOSTNAME is one server's address`,
		`DEPLOY_KEEP="1"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	env["DEPLOY_HOST"], env["DEPLOY_SSH_PORT"], env["DEPLOY_KEEP"] = "production", "2222", ""
	if _, err := FromEnv(func(k string) string { return env[k] }); err != nil {
		t.Errorf("one host with its address: %v", err)
	}
}
