package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest"
	"github.com/slipway-dev/slipway/internal/sandbox/sandboxtest/apptest"
	"github.com/slipway-dev/slipway/internal/service"
)

// workflowFile is the CI workflow whose deploy job the test runs.
const workflowFile = "../../.github/workflows/ci.yml"

// workflow is the part of a GitHub Actions workflow the test reads.
type workflow struct {
	Jobs map[string]struct {
		Needs       any               `yaml:"needs"`
		If          string            `yaml:"if"`
		Environment string            `yaml:"environment"`
		Concurrency map[string]any    `yaml:"concurrency"`
		Env         map[string]string `yaml:"env"`
		Steps       []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// expr is a workflow expression the test can stand in for: a secret or a
// repository variable.
var expr = regexp.MustCompile(`\$\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// jobEnv evaluates env values as GitHub does for secrets and vars (unset
// ones are ""); any other expression fails the test.
func jobEnv(t *testing.T, env map[string]string, secrets map[string]string) []string {
	t.Helper()
	var out []string
	for k, v := range env {
		v = expr.ReplaceAllStringFunc(v, func(m string) string { return secrets[expr.FindStringSubmatch(m)[2]] })
		if strings.Contains(v, "${{") {
			t.Fatalf("%s: env %s=%q: an expression this test can't evaluate", workflowFile, k, v)
		}
		out = append(out, k+"="+v)
	}
	return out
}

// TestCIDeployJobFromACleanHome runs the workflow's deploy job (its run:
// steps and env, read from the YAML) against the sandbox, from a HOME
// holding nothing: the connection comes only from what the secrets and
// variables hold. Then the same job with another host key pinned in the
// secret fails in one line.
func TestCIDeployJobFromACleanHome(t *testing.T) {
	raw, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("ssh-keyscan")) {
		t.Fatalf("%s runs ssh-keyscan: that trusts whatever answers; pin the host key in DEPLOY_SSH_KNOWN_HOSTS", workflowFile)
	}
	var wf workflow
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatalf("%s: %v", workflowFile, err)
	}
	job, ok := wf.Jobs["deploy"]
	if !ok {
		t.Fatalf("%s: no deploy job", workflowFile)
	}
	if fmt.Sprint(job.Needs) != "test" && fmt.Sprint(job.Needs) != "[test]" {
		t.Errorf("deploy job needs %v, want the test job", job.Needs)
	}
	if job.Concurrency["cancel-in-progress"] != false || !strings.HasPrefix(fmt.Sprint(job.Concurrency["group"]), "deploy-") {
		t.Errorf("deploy job's concurrency %v: want group deploy-<env>, cancel-in-progress false (a cancelled deploy is a kill mid-handover)", job.Concurrency)
	}
	var runs []string
	for _, s := range job.Steps {
		if s.Run != "" {
			runs = append(runs, s.Run)
		}
		if len(s.Env) > 0 {
			t.Fatalf("step %q has its own env: the test reads the job's only", s.Name)
		}
	}
	if len(runs) == 0 {
		t.Fatal("the deploy job has no run: steps")
	}

	sb := sandboxtest.Get(t)
	svc := service.DefaultConfig()
	svc.AppName, svc.ServiceUser, svc.DeployPath = "ciapp", "ciapp", "/srv/ciapp"
	// The one-time steps a person does before CI deploys (docs/ci.md).
	svc = apptest.Installed(t, sb, svc, apptest.Options{Env: []string{"PASSWORD_PEPPER=ci-pepper-0123456789abcdef"}}).Service
	// The package's other tests share the sandbox and its database: this
	// app leaves nothing running.
	t.Cleanup(func() { sandboxtest.Run(t, sb, "systemctl", "stop", svc.SocketUnit(), svc.InstancePattern()) })
	r := copyRepo(t)
	head := r.git(t, "rev-parse", "HEAD")

	key, err := os.ReadFile(sb.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(sb.KnownHostsPath)
	if err != nil {
		t.Fatal(err)
	}
	// What docs/ci.md has the human store: the key, the host key line, the
	// server's address. The alias is in no ssh config anywhere.
	secrets := map[string]string{
		"DEPLOY_HOST":            "production",
		"DEPLOY_SSH_HOSTNAME":    "127.0.0.1",
		"DEPLOY_SSH_USER":        "admin",
		"DEPLOY_SSH_PORT":        strconv.Itoa(sb.Port),
		"DEPLOY_SSH_KEY":         string(key),
		"DEPLOY_SSH_KNOWN_HOSTS": string(known),
	}
	// The app's settings on this shared sandbox (a repository would set
	// them as variables too, or keep the defaults).
	appEnv := []string{"APP_NAME=" + svc.AppName, "DEPLOY_PATH=" + svc.DeployPath, "APP_LISTEN=" + svc.ListenAddr, "DEPLOY_READY_TIMEOUT=60s"}

	run := func(t *testing.T, secrets map[string]string) (string, error) {
		t.Helper()
		home := t.TempDir()
		env := append(cleanEnv(t, home), appEnv...)
		env = append(env, jobEnv(t, job.Env, secrets)...)
		var all bytes.Buffer
		for _, script := range runs {
			// GitHub's default shell for run: on Linux.
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
			cmd.Dir, cmd.Env = r.dir, env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("%s (%s)", script, time.Since(start).Round(100*time.Millisecond))
			all.Write(out.Bytes())
			if err != nil {
				return all.String(), err
			}
		}
		// The key reached no file of the job's HOME.
		_ = filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, bytes.TrimSpace(key)) {
					t.Errorf("the private key was written to %s", p)
				}
			}
			return nil
		})
		if strings.Contains(all.String(), "PRIVATE KEY") {
			t.Errorf("the job's output shows the key")
		}
		return all.String(), nil
	}

	t.Run("the deploy job deploys and the app serves", func(t *testing.T) {
		out, err := run(t, secrets)
		if err != nil {
			t.Fatalf("deploy job: %v\n%s", err, out)
		}
		if got := sandboxtest.Serving(t, svc.ListenAddr).Commit; got != head {
			t.Errorf("serving %s, want %s\n%s", got, head, out)
		}
	})

	t.Run("a wrong host key in the secret fails the job in one line", func(t *testing.T) {
		other := sshdtest.WriteKey(t, filepath.Join(t.TempDir(), "other"), "ed25519")
		wrong := map[string]string{}
		for k, v := range secrets {
			wrong[k] = v
		}
		wrong["DEPLOY_SSH_KNOWN_HOSTS"] = fmt.Sprintf("[127.0.0.1]:%d %s", sb.Port, ssh.MarshalAuthorizedKey(other))
		out, err := run(t, wrong)
		if err == nil {
			t.Fatalf("the job passed with a wrong host key:\n%s", out)
		}
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "HOST KEY CHANGED") {
				lines = append(lines, l)
				t.Logf("the job's error: %s", l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "REFUSING TO CONNECT") || !strings.Contains(lines[0], "DEPLOY_SSH_KNOWN_HOSTS") ||
			!strings.Contains(lines[0], ssh.FingerprintSHA256(other)) {
			t.Errorf("want one line naming the changed host key, DEPLOY_SSH_KNOWN_HOSTS and the pinned key %s:\n%s", ssh.FingerprintSHA256(other), out)
		}
		if got := sandboxtest.Serving(t, svc.ListenAddr).Commit; got != head {
			t.Errorf("serving %s after the refused deploy, want %s", got, head)
		}
	})
}

// cleanEnv is a CI runner's environment with HOME empty: PATH, and the Go
// caches where setup-go keeps them (here: this machine's, so nothing is
// rebuilt); no ssh config, agent or DEPLOY_* setting.
func cleanEnv(t *testing.T, home string) []string {
	t.Helper()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "CI=true", "GITHUB_ACTIONS=true"}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOTOOLCHAIN"} {
		v, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(v)))
	}
	return env
}
