package service

import (
	"strconv"
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

// Two apps on one server: another Slipway app's folder, port or metrics
// port is refused in one line naming it and the setting to change; the
// app's own units and a free port pass.
func TestUnitNeighboursFolderAndPortsAreRefused(t *testing.T) {
	shop := DefaultsFor("shop")
	apps := map[string]*installed{
		"app":  {listen: "127.0.0.1:8080", deployPath: "/home/admin"},
		"shop": {listen: shop.ListenAddr, deployPath: shop.DeployPath, metrics: shop.MetricsAddr()},
	}
	if errs := judgeNeighbours(shop, apps); len(errs) != 0 {
		t.Errorf("shop beside app by default: %v", errs)
	}
	blog := DefaultsFor("blog")
	blog.DeployPath, blog.ListenAddr = "/home/admin", "127.0.0.1:8080"
	errs := judgeNeighbours(blog, apps)
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "DEPLOY_PATH=/home/admin is app app's on this server") ||
		!strings.HasPrefix(errs[1].Error(), "APP_LISTEN=127.0.0.1:8080: port 8080 is app app's socket") {
		t.Errorf("blog on app's folder and port: %v", errs)
	}
	blog = DefaultsFor("blog")
	blog.ListenAddr = "127.0.0.1:" + strconv.Itoa(9090-MetricsOffset) // its metrics port: 9090
	apps["app"].listen = "127.0.0.1:8081"                             // app's metrics: still 9090
	errs = judgeNeighbours(blog, apps)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "metrics port 9090 is app app's /metrics on this server too: set another APP_LISTEN for blog") {
		t.Errorf("blog's metrics on app's: %v", errs)
	}
}

// The default app keeps today's folder and ports; another name gets its
// own, the same on every run.
func TestUnitDefaultsFollowAppName(t *testing.T) {
	app, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil || app.DeployPath != "/home/admin" || app.ListenAddr != "127.0.0.1:8080" || app.MetricsAddr() != "" {
		t.Fatalf("default app: %+v %q, %v", app, app.MetricsAddr(), err)
	}
	shop, err := ConfigFromEnv(func(k string) string { return map[string]string{"APP_NAME": "shop"}[k] })
	if err != nil || shop.DeployPath != "/srv/shop" || shop.ServiceUser != "shop" || shop != DefaultsFor("shop") {
		t.Fatalf("shop: %+v, %v", shop, err)
	}
	p := NamePort("shop")
	if shop.ListenAddr != "127.0.0.1:"+strconv.Itoa(p) || p < PortBase || p >= PortBase+PortSpan || shop.MetricsAddr() != "127.0.0.1:"+strconv.Itoa(p+MetricsOffset) {
		t.Errorf("shop listens on %s, metrics %s", shop.ListenAddr, shop.MetricsAddr())
	}
	units, err := Units(shop)
	if err != nil || !strings.Contains(string(units["shop@.service"]), "\nEnvironment=METRICS_ADDR="+shop.MetricsAddr()+"\n") {
		t.Errorf("shop's template lacks its metrics address: %v", err)
	}
	units, _ = Units(app)
	if strings.Contains(string(units["app@.service"]), "METRICS_ADDR") {
		t.Error("the default app's template changed: it sets METRICS_ADDR")
	}
}
