package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/clientip"
	"github.com/slipway-dev/slipway/internal/version"
)

func TestRoutes(t *testing.T) {
	var notReady error
	h := NewServer(Deps{
		Log:     slog.New(slog.DiscardHandler),
		Ready:   func(context.Context) error { return notReady },
		Version: version.Info{Version: "v1.2.3", Commit: "abc123", GoVersion: "go1.26"},
	})
	call := func(path string) (int, map[string]string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var m map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return rec.Code, m
	}
	if code, m := call("/healthz"); code != 200 || m["status"] != "ok" {
		t.Errorf("/healthz %d %v", code, m)
	}
	if code, m := call("/readyz"); code != 200 || m["status"] != "ready" {
		t.Errorf("/readyz %d %v", code, m)
	}
	notReady = &NotReady{Reason: "migrations pending"}
	if code, m := call("/readyz"); code != 503 || m["reason"] != "migrations pending" {
		t.Errorf("/readyz not ready: %d %v", code, m)
	}
	// Any other error's text stays in the log: it may be the database's.
	notReady = fmt.Errorf("check pending migrations: %w", errors.New(`ERROR: relation "goose_db_version" does not exist (SQLSTATE 42P01)`))
	if code, m := call("/readyz"); code != 503 || m["reason"] != unknownReason {
		t.Errorf("/readyz with a database error: %d %v, want 503 %q", code, m, unknownReason)
	}
	notReady = &NotReady{Reason: "database error", Cause: notReady}
	if code, m := call("/readyz"); code != 503 || m["reason"] != "database error" {
		t.Errorf("/readyz with a database error behind a public reason: %d %v, want 503 \"database error\"", code, m)
	}
	notReady = nil
	if code, m := call("/version"); code != 200 || m["version"] != "v1.2.3" || m["commit"] != "abc123" || m["go_version"] != "go1.26" {
		t.Errorf("/version %d %v", code, m)
	}
	if code, _ := call("/nope"); code != 404 {
		t.Errorf("/nope %d", code)
	}
}

// TestHelperProcess is not a test: the tests below run it in a child
// process, so that a real SIGTERM reaches a real Serve.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("WEB_HELPER") != "1" {
		t.Skip("helper process for the SIGTERM tests")
	}
	if os.Getenv("WEB_HELPER_INHERIT") == "1" {
		// Stand in for systemd: it would set LISTEN_PID to our pid itself.
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		os.Setenv("LISTEN_FDS", "1")
		if names := os.Getenv("WEB_HELPER_FDNAMES"); names != "" {
			os.Setenv("LISTEN_FDS", strconv.Itoa(len(strings.Split(names, ":"))))
			os.Setenv("LISTEN_FDNAMES", names)
		}
	}
	ls, err := Listen("127.0.0.1:0")
	ln := ls.App
	if os.Getenv("WEB_HELPER_INHERIT") == "1" && !ls.Activated {
		fmt.Println("error: inherited socket not used")
		os.Exit(2)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("slow-started")
		time.Sleep(1500 * time.Millisecond)
		io.WriteString(w, "slow-done")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/client", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, clientip.Proxies{}.Client(r).Addr.String())
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("addr", ln.Addr())
	err = Serve(ctx, ln, mux, ServeOptions{Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), ShutdownTimeout: 10 * time.Second, DrainDelay: 250 * time.Millisecond, Proxy: ls.Proxy})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	os.Exit(0)
}

type helper struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string
	done  chan error
}

// startHelper runs Serve in a child process; with a non-nil socket, the
// child gets it as fd 3 the way systemd socket activation passes it, and
// the front door's socket, if any, as fd 4 named "proxy".
func startHelper(t *testing.T, socket *os.File, proxy ...*os.File) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "WEB_HELPER=1")
	if socket != nil {
		cmd.ExtraFiles = append([]*os.File{socket}, proxy...)
		cmd.Env = append(cmd.Env, "WEB_HELPER_INHERIT=1")
		if len(proxy) > 0 {
			cmd.Env = append(cmd.Env, "WEB_HELPER_FDNAMES=app.socket:"+ProxyFDName)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	sc := bufio.NewScanner(out)
	go func() {
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case l := <-h.lines:
		if !strings.HasPrefix(l, "addr ") {
			t.Fatalf("helper said %q", l)
		}
		h.addr = strings.TrimPrefix(l, "addr ")
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not start")
	}
	return h
}

func (h *helper) waitLine(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-h.lines:
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("helper never printed %q", want)
		}
	}
}

func (h *helper) exitCode(t *testing.T) int {
	t.Helper()
	for range h.lines {
	}
	select {
	case err := <-h.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(15 * time.Second):
		t.Fatal("helper did not exit")
		return -1
	}
}

func TestSIGTERMDuringSlowRequestCompletesIt(t *testing.T) {
	h := startHelper(t, nil)
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + h.addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	h.waitLine(t, "slow-started")
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.body != "slow-done" {
		t.Errorf("slow request across SIGTERM: %q, %v; want it completed", r.body, r.err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if _, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
		t.Error("still accepting connections after stopping")
	}
}

// TestRestartOnTheSameSocketDropsNothing is a zero-downtime restart without
// systemd: the test holds the listening socket as systemd's .socket unit
// would, the old process gets SIGTERM under load, a new process takes the
// same socket. Every request must succeed: connections queued while no
// process accepts wait in the kernel instead of being refused.
func TestRestartOnTheSameSocketDropsNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	socket, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer socket.Close()
	addr := l.Addr().String()

	old := startHelper(t, socket)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 20 * time.Second}
	var ok atomic.Int64
	var mu sync.Mutex
	var failed []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + "/fast")
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && string(b) != "ok" {
						err = fmt.Errorf("body %q", b)
					}
				}
				if err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	before := ok.Load()
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := old.exitCode(t); code != 0 {
		t.Errorf("old process exit code %d", code)
	}
	startHelper(t, socket)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d requests failed across the restart (%d ok), first: %v", len(failed), ok.Load(), failed[0])
	}
	if before == 0 || ok.Load() == before {
		t.Errorf("requests ok before stop %d, in total %d: the load did not span the restart", before, ok.Load())
	}
	t.Logf("%d requests, 0 failed", ok.Load())
}

// TestOnTheFrontDoorsSocketAloneForwardedForCounts passes the app's TCP
// socket and a unix socket named "proxy" the way systemd does (issue 25
// item 8): a forged X-Forwarded-For counts on the second only, and both
// are served.
func TestOnTheFrontDoorsSocketAloneForwardedForCounts(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	files := make([]*os.File, 2)
	for i, l := range []interface{ File() (*os.File, error) }{tcp.(*net.TCPListener), unix.(*net.UnixListener)} {
		if files[i], err = l.File(); err != nil {
			t.Fatal(err)
		}
		defer files[i].Close()
	}
	startHelper(t, files[0], files[1])
	overUnix := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, tc := range []struct {
		c         *http.Client
		url, want string
	}{{http.DefaultClient, "http://" + tcp.Addr().String() + "/client", "127.0.0.1"}, {overUnix, "http://proxy/client", "198.51.100.7"}} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		resp, err := tc.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Errorf("%s with a forged X-Forwarded-For: the client is %q, want %q", tc.url, b, tc.want)
		}
	}
}

func TestListenErrorSaysWhatToDo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Listen(l.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "set ADDR") {
		t.Errorf("Listen on a busy address: %v", err)
	}
}
