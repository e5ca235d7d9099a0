package admintest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FloodStats is what a Flood sent and what came back.
type FloodStats struct {
	Sent     int
	Skipped  int // not sent: every one of the attacker's requests was open
	NoAnswer int
	Codes    map[int]int
}

// Flood posts garbage to base's /admin/login, rate posts a second until
// ctx is done, as the login flood of issue 25 (item 3) does: each post is
// one the app must refuse cheaply (no form content type, or a form without
// a CSRF token), each from an X-Forwarded-For address of its own, so only
// a limit across all addresses could stop it. Like an attacker it doesn't
// wait for answers, up to inFlight open requests; past that a post is
// skipped and counted. It returns once every answer is in.
func Flood(ctx context.Context, base string, rate, inFlight int) FloodStats {
	st := FloodStats{Codes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: inFlight, ResponseHeaderTimeout: 30 * time.Second},
		Timeout:   time.Minute,
	}
	defer client.CloseIdleConnections()
	slots := make(chan struct{}, inFlight)
	const tick = 10 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	tk := time.NewTicker(tick)
	defer tk.Stop()
	r := rand.New(rand.NewPCG(1, 2))
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tk.C:
		}
		for range perTick {
			if ctx.Err() != nil {
				break
			}
			select {
			case slots <- struct{}{}:
			default:
				mu.Lock()
				st.Skipped++
				mu.Unlock()
				continue
			}
			req := garbage(base, r)
			mu.Lock()
			st.Sent++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				resp, err := client.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					st.NoAnswer++
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				st.Codes[resp.StatusCode]++
			}()
		}
	}
	wg.Wait()
	return st
}

// garbage is one post that can't be a login.
func garbage(base string, r *rand.Rand) *http.Request {
	body := "email=ada%40example.com&password=guess" + strconv.Itoa(r.IntN(1e6))
	req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(body))
	switch r.IntN(3) {
	case 0: // no content type at all
	case 1:
		req.Header.Set("Content-Type", "text/plain")
	case 2: // a form, without the CSRF token
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)))
	return req
}
