package service

import (
	"reflect"
	"strings"
	"testing"
)

func TestBasicsFromEnvReadsTheOptOutsAndRefusesTheRestInOneLine(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	b, err := BasicsFromEnv(env(nil))
	if err != nil || !reflect.DeepEqual(b, Basics{}) {
		t.Fatalf("unset: %+v, %v; want everything on", b, err)
	}
	b, err = BasicsFromEnv(env(map[string]string{"PROVISION_FIREWALL": "off", "PROVISION_UPGRADES": "off", "PROVISION_SSH_PASSWORDS": "off", "PROVISION_FIREWALL_PORTS": "5432, 8080"}))
	if err != nil || !reflect.DeepEqual(b, Basics{NoFirewall: true, NoUpgrades: true, SSHPasswords: "off", FirewallPorts: []int{5432, 8080}}) {
		t.Fatalf("off: %+v, %v", b, err)
	}
	for k, v := range map[string]string{"PROVISION_FIREWALL": "no", "PROVISION_UPGRADES": "0", "PROVISION_SSH_PASSWORDS": "yes", "PROVISION_FIREWALL_PORTS": "5432,http"} {
		_, err := BasicsFromEnv(env(map[string]string{k: v}))
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), k+"=") {
			t.Errorf("%s=%s: %v, want one line naming the setting", k, v, err)
		}
	}
}
