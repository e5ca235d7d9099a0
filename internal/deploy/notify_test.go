package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/build"
	"github.com/slipway-dev/slipway/internal/notify"
	"github.com/slipway-dev/slipway/internal/remote/sshdtest"
	"github.com/slipway-dev/slipway/internal/service"
)

// webhookSecret is the path of the receiver's URL: a Slack webhook's path
// is its credential, so it must never be printed.
const webhookSecret = "/services/T000/B000/never-printed-0123456789"

// receiver is a local webhook endpoint recording what deploy posts.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notify.Event
	// answer is the status of the n-th post (1-based); 200 when unset.
	answer func(n int) int
	posts  int
	block  chan struct{} // when set, every post hangs until it closes
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != webhookSecret || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %s %s (%s)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		}
		var e notify.Event
		if err := json.NewDecoder(req.Body).Decode(&e); err != nil {
			t.Errorf("webhook body is not an event: %v", err)
		}
		r.mu.Lock()
		r.posts++
		n, answer, block := r.posts, r.answer, r.block
		r.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-req.Context().Done():
			}
			return
		}
		code := 200
		if answer != nil {
			code = answer(n)
		}
		if code == 200 {
			r.mu.Lock()
			r.got = append(r.got, e)
			r.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.block != nil {
			close(r.block)
			r.block = nil
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *receiver) notifier(t *testing.T) *notify.Notifier {
	t.Helper()
	n, err := notify.New(r.srv.URL + webhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	n.Backoff = 10 * time.Millisecond
	return n
}

// events returns what was delivered since the last call.
func (r *receiver) events() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got, r.posts = nil, 0
	return got
}

// one fails the test unless exactly one event of kind and outcome arrived.
func (r *receiver) one(t *testing.T, kind, outcome string) notify.Event {
	t.Helper()
	got := r.events()
	if len(got) != 1 || got[0].Kind != kind || got[0].Outcome != outcome {
		t.Fatalf("notifications %+v, want one %s %s", got, kind, outcome)
	}
	e := got[0]
	if e.Who != "tester@ci" || e.Host == "" || e.Duration <= 0 || !strings.HasPrefix(e.Text, kind+" of ") || !strings.Contains(e.Text, outcome) {
		t.Errorf("notification lacks who, host, duration or a Slack text: %+v", e)
	}
	return e
}

// armBinary is a valid app for another architecture: deploy refuses it
// after connecting, before anything is uploaded.
func armBinary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(appBinary(t, "v1", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	b[18], b[19] = 0xb7, 0x00 // e_machine = EM_AARCH64
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := build.WriteChecksum(bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestAFailedDeployIsNotifiedWithItsCauseAfterRetries(t *testing.T) {
	srv := sshdtest.Start(t)
	r := newReceiver(t)
	r.answer = func(n int) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return 200
	}
	var out bytes.Buffer
	o := testOptions([]string{srv.Alias}, srv.ConfigPath, filepath.Join(t.TempDir(), "dp"), &out)
	o.Binary = armBinary(t)
	o.Notify = r.notifier(t)
	_, err := Deploy(context.Background(), o, false)
	if err == nil || !strings.Contains(err.Error(), "built for arm64") {
		t.Fatalf("want the architecture refusal, got %v", err)
	}
	e := r.one(t, "deploy", OutcomeFailed)
	if e.Host != srv.Alias || !strings.Contains(e.Cause, "built for arm64") || !strings.Contains(e.Text, "built for arm64") {
		t.Errorf("the notification does not carry the cause: %+v", e)
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("delivered on the third attempt, yet a warning:\n%s", out.String())
	}
}

func TestAHangingOrFailingEndpointLeavesTheDeploysOutcomeAndNeverShowsTheURL(t *testing.T) {
	srv := sshdtest.Start(t)
	for _, mode := range []string{"hang", "500"} {
		t.Run(mode, func(t *testing.T) {
			r := newReceiver(t)
			if mode == "hang" {
				r.block = make(chan struct{})
			} else {
				r.answer = func(int) int { return http.StatusInternalServerError }
			}
			var out bytes.Buffer
			o := testOptions([]string{srv.Alias}, srv.ConfigPath, filepath.Join(t.TempDir(), "dp"), &out)
			o.Binary = armBinary(t)
			o.Notify = r.notifier(t)
			o.Notify.Timeout = 300 * time.Millisecond
			_, err := Deploy(context.Background(), o, false)
			if err == nil || !strings.Contains(err.Error(), "built for arm64") {
				t.Fatalf("the endpoint changed the deploy's error: %v", err)
			}
			r.mu.Lock()
			posts := r.posts
			r.mu.Unlock()
			if posts != notify.DefaultAttempts {
				t.Errorf("%d posts, want %d (retried, bounded)", posts, notify.DefaultAttempts)
			}
			want := "warning: notification to " + r.srv.URL + " not delivered after 3 attempt(s)"
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
			if strings.Contains(out.String()+err.Error(), "never-printed") {
				t.Errorf("the webhook's secret path was printed:\n%s", out.String())
			}
		})
	}
}

func TestABadNotifyURLIsRefusedWithoutQuotingIt(t *testing.T) {
	for _, v := range []string{"hooks.slack.com/services/never-printed", "ftp://x/never-printed", "https:///never-printed", "http://hooks.example.com/never-printed"} {
		_, err := FromEnv(func(k string) string {
			if k == "DEPLOY_NOTIFY_URL" {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "DEPLOY_NOTIFY_URL") || strings.Contains(err.Error(), "never-printed") {
			t.Errorf("DEPLOY_NOTIFY_URL=%q: %v", v, err)
		}
	}
}

// TestANotReadyDeploysNotificationCarriesNoJournalLine performs issue 25's
// item 7 (3/3): the error of a release that never got ready goes on with
// its last journal lines, which may hold data; the webhook, a third
// party, gets the reason only.
func TestANotReadyDeploysNotificationCarriesNoJournalLine(t *testing.T) {
	r := newReceiver(t)
	var out bytes.Buffer
	o := testOptions([]string{"web-1"}, "", "", &out)
	o.Notify, o.Start = r.notifier(t), time.Now().Add(-2*time.Second)
	rel := Release{ID: "r20261207-1", Version: Version{Version: "v9", Commit: "c9"}}
	const journal = "paid order 42 for ana@example.com, card 4242"
	err := notReady(rel, "web-1", "app@r20261207-1.service", service.HandoverResult{
		Outcome: OutcomeRolledBack, Detail: "kept=r20261201-1", Reason: "app@r20261207-1.service not ready within 30s (activating/start): stopped",
		Logs: []string{"migrations applied", journal}})
	if !strings.Contains(err.Error(), "last log lines of") || !strings.Contains(err.Error(), journal) {
		t.Fatalf("the not-ready error changed (the test feeds it as deploy builds it): %v", err)
	}
	o.notify(context.Background(), "deploy", "web-1", rel.ID, rel.Version, OutcomeRolledBack, err)
	o.notified()
	e := r.one(t, "deploy", OutcomeRolledBack)
	body, _ := json.Marshal(e)
	for _, leak := range []string{journal, "migrations applied", "last log lines"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the webhook received %q:\n%s", leak, body)
		}
	}
	if !strings.Contains(e.Cause, "not ready within 30s") || !strings.Contains(e.Text, "not ready within 30s") {
		t.Errorf("the notification lacks the reason: %+v", e)
	}
}
