package bench

// bench:login measures what a burst of concurrent login attempts does to
// the app: it builds the real app binary (this tree, and a baseline
// revision such as main), starts each against a throwaway PostgreSQL,
// fires N simultaneous POST /admin/login, and reports the app's peak
// resident memory and the response codes, all in one run. Then it probes
// each binary's /readyz quiet and under a flood of garbage login posts
// (issue 25, item 3) and reports the latencies.

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/internal/admin/admintest"
	"github.com/slipway-dev/slipway/internal/freeport"
	"github.com/slipway-dev/slipway/internal/pgcluster"
	"github.com/slipway-dev/slipway/internal/procmem"
)

// LoginOptions configures Login.
type LoginOptions struct {
	Root string // repository root
	// Baseline is the git revision measured as "before"; "" is main.
	Baseline string
	// Attempts fired at once; 0 is 200.
	Attempts int
	// BaselineMemoryCap bounds the baseline's address space (RLIMIT_AS):
	// unbounded, N attempts would take N x 64 MiB on a shared machine.
	// 0 is 4 GiB. The baseline dying at the cap is a result, reported.
	BaselineMemoryCap int64
	// FloodRate and FloodFor shape the garbage flood scenario: 0 are
	// 2,000 posts a second for 30 s (issue 25, item 3).
	FloodRate int
	FloodFor  time.Duration
	Stdout    io.Writer
}

// LoginResult is one scenario's measurement.
type LoginResult struct {
	Binary, Pattern string
	Attempts        int
	BaseRSS         int64 // before the burst
	PeakRSS         int64 // VmHWM, or the highest VmRSS sampled if the app died
	Codes           map[int]int
	Errors          int           // attempts without an HTTP response
	Slowest         time.Duration // the slowest answered attempt
	Died            string        // the app's last line, when it exited during the burst
}

// Growth is the peak resident memory above the base.
func (r LoginResult) Growth() int64 { return r.PeakRSS - r.BaseRSS }

const (
	pepper   = "loginbench-pepper-0123456789"
	adminPW  = "correct horse battery staple"
	adminEML = "ada@example.com"
)

// Login measures the baseline and this tree, each with two patterns: "one
// email" (every attempt guesses the admin's email, from its own address)
// and "spray" (every attempt a different email and address, so no
// throttle refuses anything and only the hashing bound holds memory).
func Login(ctx context.Context, o LoginOptions) ([]LoginResult, error) {
	if o.Attempts <= 0 {
		o.Attempts = 200
	}
	if o.Baseline == "" {
		o.Baseline = "main"
	}
	if o.BaselineMemoryCap <= 0 {
		o.BaselineMemoryCap = 4 << 30
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.FloodRate <= 0 {
		o.FloodRate = 2000
	}
	if o.FloodFor <= 0 {
		o.FloodFor = 30 * time.Second
	}
	tmp, err := os.MkdirTemp("", "loginbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	before, after := filepath.Join(tmp, "app-before"), filepath.Join(tmp, "app-after")
	fmt.Fprintf(o.Stdout, "building %s and this tree...\n", o.Baseline)
	if err := buildRevision(ctx, o.Root, o.Baseline, filepath.Join(tmp, "src"), before); err != nil {
		return nil, err
	}
	if err := goBuildApp(ctx, o.Root, after); err != nil {
		return nil, err
	}
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer pg.Stop()

	var results []LoginResult
	n := 0
	for _, b := range []struct {
		name, bin string
		cap       int64
	}{{o.Baseline + " (before)", before, o.BaselineMemoryCap}, {"this tree (after)", after, 0}} {
		for _, pattern := range []string{"one email", "spray"} {
			n++
			db := fmt.Sprintf("loginbench_%d", n)
			if err := pg.CreateDatabase(ctx, db); err != nil {
				return nil, err
			}
			fmt.Fprintf(o.Stdout, "%s, %s: %d attempts...\n", b.name, pattern, o.Attempts)
			r, err := loginScenario(ctx, b.bin, b.cap, pg.URL(db), pattern, o.Attempts, tmp)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", b.name, pattern, err)
			}
			r.Binary = b.name
			results = append(results, r)
		}
	}
	LoginTable(results).Print(o.Stdout)

	var floods []FloodResult
	for _, b := range []struct {
		name, bin string
		cap       int64
	}{{o.Baseline + " (before)", before, o.BaselineMemoryCap}, {"this tree (after)", after, 0}} {
		n++
		db := fmt.Sprintf("loginbench_%d", n)
		if err := pg.CreateDatabase(ctx, db); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Stdout, "%s: /readyz quiet for %s, then under %d garbage login posts a second for %s...\n",
			b.name, floodQuiet, o.FloodRate, o.FloodFor)
		f, err := floodScenario(ctx, b.bin, b.cap, pg.URL(db), tmp, o.FloodRate, o.FloodFor)
		if err != nil {
			return nil, fmt.Errorf("%s, flood: %w", b.name, err)
		}
		f.Binary = b.name
		floods = append(floods, f)
	}
	FloodTable(floods).Print(o.Stdout)
	return results, nil
}

// FloodResult is /readyz's latency for one binary, quiet and then under a
// flood of garbage login posts (admintest.Flood), measured in one run.
type FloodResult struct {
	Binary               string
	Quiet, Flooded       []time.Duration // each probe's answer time
	QuietBad, FloodedBad int             // probes not answered 200
	Flood                admintest.FloodStats
}

// floodQuiet is how long /readyz is probed before the flood: the baseline.
const floodQuiet = 10 * time.Second

// probeEvery spaces /readyz probes, as a deploy or a load balancer polls.
const probeEvery = 100 * time.Millisecond

func floodScenario(ctx context.Context, bin string, memCap int64, dbURL, tmp string, rate int, length time.Duration) (FloodResult, error) {
	var r FloodResult
	app, err := startApp(ctx, bin, memCap, dbURL, tmp)
	if err != nil {
		return r, err
	}
	defer app.stop()
	probe := &http.Client{Timeout: 10 * time.Second}
	probes := func(ctx context.Context) (lat []time.Duration, bad int) {
		for ctx.Err() == nil {
			t0 := time.Now()
			resp, err := probe.Get(app.base + "/readyz")
			lat = append(lat, time.Since(t0))
			if err != nil {
				bad++
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(probeEvery):
			}
		}
		return lat, bad
	}
	qctx, cancel := context.WithTimeout(ctx, floodQuiet)
	r.Quiet, r.QuietBad = probes(qctx)
	cancel()
	fctx, cancel := context.WithTimeout(ctx, length)
	defer cancel()
	flooded := make(chan FloodResult, 1)
	go func() {
		var f FloodResult
		f.Flooded, f.FloodedBad = probes(fctx)
		flooded <- f
	}()
	r.Flood = admintest.Flood(fctx, app.base, rate, 1000)
	f := <-flooded
	r.Flooded, r.FloodedBad = f.Flooded, f.FloodedBad
	return r, nil
}

// percentile is the p-th percentile (0-100) of d, nearest rank.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// FloodTable is bench:login's table of /readyz under the flood.
func FloodTable(rs []FloodResult) Table {
	t := Table{
		Title:  "bench:login: /readyz quiet, then under a flood of garbage login posts (goal under the flood: p99 <= 100 ms, every probe 200)",
		About:  []string{fmt.Sprintf("/readyz probed every %s; garbage: no form content type or no CSRF token, each post from its own X-Forwarded-For address, at most 1,000 open at once", probeEvery)},
		Header: []string{"binary", "phase", "probes", "p50", "p99", "max", "not 200", "flood sent", "flood answers"},
	}
	for _, r := range rs {
		t.Add(r.Binary, "quiet", strconv.Itoa(len(r.Quiet)), Dur(percentile(r.Quiet, 50)), Dur(percentile(r.Quiet, 99)), Dur(slices.Max(append([]time.Duration{0}, r.Quiet...))), strconv.Itoa(r.QuietBad), "", "")
		codes := slices.Sorted(maps.Keys(r.Flood.Codes))
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", r.Flood.Codes[c], c))
		}
		if r.Flood.NoAnswer > 0 {
			parts = append(parts, fmt.Sprintf("%d×no answer", r.Flood.NoAnswer))
		}
		sent := strconv.Itoa(r.Flood.Sent)
		if r.Flood.Skipped > 0 {
			sent += fmt.Sprintf(" (%d skipped)", r.Flood.Skipped)
		}
		t.Add(r.Binary, "flood", strconv.Itoa(len(r.Flooded)), Dur(percentile(r.Flooded, 50)), Dur(percentile(r.Flooded, 99)), Dur(slices.Max(append([]time.Duration{0}, r.Flooded...))), strconv.Itoa(r.FloodedBad), sent, strings.Join(parts, " "))
	}
	return t
}

// buildRevision builds cmd/app of rev from a `git archive` export: no
// worktree, nothing of the repository touched.
func buildRevision(ctx context.Context, root, rev, dir, out string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", rev)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var aerr strings.Builder
	archive.Stderr = &aerr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %v: %s", rev, err, strings.TrimSpace(aerr.String()))
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("unpack %s: %w", rev, err)
	}
	return goBuildApp(ctx, dir, out)
}

// goBuildApp is a plain go build of cmd/app: the baseline revision may
// predate buildApp's options, and both sides must be built alike.
func goBuildApp(ctx context.Context, dir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/app")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %v\n%s", dir, err, b)
	}
	return nil
}

// benchApp is one app process started for a scenario.
type benchApp struct {
	base   string // http://addr
	pid    int
	exited chan error
	log    string
	stop   func()
}

// startApp creates the admin, starts bin (capped at memCap bytes of
// address space, 0 unbounded) against dbURL and waits until /readyz says
// ready.
func startApp(ctx context.Context, bin string, memCap int64, dbURL, tmp string) (*benchApp, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "PASSWORD_PEPPER=" + pepper, "LOG_FORMAT=json"}
	create := exec.CommandContext(ctx, bin, "admin", "create", "-email", adminEML)
	create.Env, create.Stdin = env, strings.NewReader(adminPW+"\n")
	if out, err := create.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("admin create: %v: %s", err, out)
	}
	addr, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(tmp, "app.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The baseline ignores TRUSTED_PROXIES; this tree needs it to tell the
	// attempts' addresses apart, as behind a reverse proxy.
	cmd := exec.Command(bin)
	if memCap > 0 {
		// prlimit (util-linux) sets the cap and execs bin: the pid stays the app's.
		cmd = exec.Command("prlimit", "--as="+strconv.FormatInt(memCap, 10), "--", bin)
	}
	cmd.Env = append(env, "ADDR="+addr, "TRUSTED_PROXIES=127.0.0.1/32", "METRICS_ADDR=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	a := &benchApp{base: "http://" + addr, pid: cmd.Process.Pid, exited: make(chan error, 1), log: logPath}
	go func() { a.exited <- cmd.Wait() }()
	a.stop = func() {
		select {
		case <-a.exited:
		default:
			_ = cmd.Process.Kill()
			<-a.exited
		}
		logFile.Close()
	}
	if err := waitReadyOrExit(ctx, a.base+"/readyz", a.exited); err != nil {
		a.stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath))
	}
	return a, nil
}

func loginScenario(ctx context.Context, bin string, memCap int64, dbURL, pattern string, attempts int, tmp string) (LoginResult, error) {
	r := LoginResult{Pattern: pattern, Attempts: attempts, Codes: map[int]int{}}
	app, err := startApp(ctx, bin, memCap, dbURL, tmp)
	if err != nil {
		return r, err
	}
	defer app.stop()
	base, pid, exited, logPath := app.base, app.pid, app.exited, app.log

	// Each attempt fetches its own form first (its CSRF cookie and token),
	// as a script must; then all post at once.
	type prepared struct {
		cookies []*http.Cookie
		form    url.Values
		client  string
	}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: attempts, MaxConnsPerHost: 0},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       5 * time.Minute,
	}
	defer client.CloseIdleConnections()
	preps := make([]prepared, attempts)
	for i := range preps {
		cookies, token, err := fetchForm(ctx, client, base)
		if err != nil {
			return r, err
		}
		email := adminEML
		if pattern == "spray" {
			email = fmt.Sprintf("nobody%d@example.com", i)
		}
		preps[i] = prepared{cookies, url.Values{"csrf": {token}, "email": {email}, "password": {fmt.Sprintf("wrong guess number %d", i)}},
			fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255+1)}
	}
	time.Sleep(200 * time.Millisecond)
	r.BaseRSS, _ = procStatus(strconv.Itoa(pid), "VmRSS")

	stopSampling := make(chan struct{})
	sampled := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatus(strconv.Itoa(pid), "VmRSS"); err == nil {
				peak = max(peak, v)
			}
			select {
			case <-stopSampling:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, p := range preps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/admin/login", strings.NewReader(p.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", p.client)
			for _, c := range p.cookies {
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			<-start
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors++
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.Codes[resp.StatusCode]++
			r.Slowest = max(r.Slowest, d)
		}()
	}
	close(start)
	wg.Wait()
	hwm, hwmErr := procStatus(strconv.Itoa(pid), "VmHWM")
	close(stopSampling)
	r.PeakRSS = max(<-sampled, hwm)
	wait := time.Duration(0)
	if hwmErr != nil { // gone, or going: give it a moment to be reaped
		wait = 5 * time.Second
	}
	select {
	case err := <-exited:
		exited <- err
		r.Died = fatalLine(logPath)
	case <-time.After(wait):
		if hwmErr != nil {
			return r, hwmErr
		}
	}
	return r, nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func fetchForm(ctx context.Context, c *http.Client, base string) ([]*http.Cookie, string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/admin/login", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil {
		return nil, "", fmt.Errorf("GET /admin/login: %d without a csrf field", resp.StatusCode)
	}
	return resp.Cookies(), string(m[1]), nil
}

// waitReadyOrExit is waitReady that gives up as soon as the process exits.
func waitReadyOrExit(ctx context.Context, url string, exited chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make(chan error, 1)
	go func() {
		select {
		case err := <-exited:
			exited <- err
			gone <- err
			cancel()
		case <-ctx.Done():
		}
	}()
	err := waitReady(ctx, url, time.Minute)
	select {
	case exitErr := <-gone:
		return fmt.Errorf("app exited before ready: %v", exitErr)
	default:
		return err
	}
}

// procStatus is procmem.Status: a "kB" line of /proc/<pid>/status in bytes.
func procStatus(pid, key string) (int64, error) { return procmem.Status(pid, key) }

// fatalLine is the Go runtime's "fatal error: ..." line, else the last.
func fatalLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
			return l
		}
	}
	return lines[len(lines)-1]
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// LoginTable is bench:login's table.
func LoginTable(rs []LoginResult) Table {
	t := Table{
		Title: "bench:login: concurrent login attempts against the app, peak resident memory and responses",
		About: []string{"each attempt fetched its own form first (CSRF cookie and token), then all posted at once",
			"one email: all guess the admin's email; spray: each a different email; each from its own X-Forwarded-For address"},
		Header: []string{"binary", "pattern", "attempts", "base RSS", "peak RSS", "growth", "responses", "slowest"},
	}
	for _, r := range rs {
		codes := make([]int, 0, len(r.Codes))
		for c := range r.Codes {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d×%d", r.Codes[c], c))
		}
		if r.Errors > 0 {
			parts = append(parts, fmt.Sprintf("%d×no answer", r.Errors))
		}
		slowest := ""
		if r.Slowest > 0 {
			slowest = Dur(r.Slowest)
		}
		t.Add(r.Binary, r.Pattern, strconv.Itoa(r.Attempts), Size(r.BaseRSS), Size(r.PeakRSS), Size(r.Growth()), strings.Join(parts, " "), slowest)
		if r.Died != "" {
			t.Note("%s, %s: the app died: %.120s", r.Binary, r.Pattern, r.Died)
		}
	}
	return t
}
