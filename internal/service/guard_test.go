package service

import (
	"strings"
	"testing"
)

func TestJudgeAccount(t *testing.T) {
	ours := &account{name: "app", uid: 998, gecos: UserMarker, shell: "/usr/sbin/nologin"}
	for _, tc := range []struct {
		name string
		f    serverFacts
		want string // "" = accepted
	}{
		{"a new account", serverFacts{sshUser: "admin"}, ""},
		{"one Slipway created", serverFacts{account: ours, groups: []string{"app"}, sshUser: "admin"}, ""},
		{"one an older Slipway created", serverFacts{account: &account{name: "app", uid: 998, shell: "/usr/sbin/nologin"}, legacy: true, sshUser: "admin"}, ""},
		{"ours, later put in sudo", serverFacts{account: ours, groups: []string{"app", "sudo"}, sshUser: "admin"}, "privileged group sudo"},
		{"ours, given uid 0", serverFacts{account: &account{name: "app", uid: 0, gecos: UserMarker}, sshUser: "admin"}, "uid 0"},
		{"ours, turned into a login", serverFacts{account: &account{name: "app", uid: 1001, gecos: UserMarker, shell: "/bin/bash"}, sshUser: "admin"}, "login account"},
		{"the SSH user", serverFacts{account: &account{name: "app", uid: 1000, shell: "/bin/bash"}, sshUser: "app"}, "SSH user"},
		{"a system service's", serverFacts{account: &account{name: "app", uid: 105, gecos: "PostgreSQL administrator,,,", shell: "/bin/bash"}, sshUser: "admin"}, "didn't create it"},
		{"the GECOS mark only as a prefix", serverFacts{account: &account{name: "app", uid: 105, gecos: "slipwayish"}, sshUser: "admin"}, "didn't create it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := judgeAccount("app", tc.f)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "APP_USER=app: ")):
				t.Errorf("got %v, want an APP_USER=app refusal saying %q", err, tc.want)
			}
		})
	}
}

func TestParseFactsReadsTheGuardScript(t *testing.T) {
	out := "unit ssh.service foreign /lib/systemd/system/ssh.service\nunit app.socket ours\nenvdir foreign\n" +
		"passwd postgres:x:105:111:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\ngroups postgres ssl-cert\nsshuser admin\n"
	f, err := parseFacts([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.foreignUnits) != 1 || f.foreignUnits["ssh.service"] != "/lib/systemd/system/ssh.service" || !f.envDirForeign ||
		f.account == nil || f.account.uid != 105 || f.account.shell != "/bin/bash" || len(f.groups) != 2 || f.sshUser != "admin" || f.legacy {
		t.Errorf("facts: %+v %+v", f, f.account)
	}
	c := DefaultConfig()
	c.AppName, c.ServiceUser = "ssh", "postgres"
	err = judge(c, f)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "APP_NAME=ssh: ssh.service (/lib/systemd/system/ssh.service), /etc/ssh already on the server") || !strings.HasPrefix(lines[1], "APP_USER=postgres: ") {
		t.Errorf("judge: %v", err)
	}
}
