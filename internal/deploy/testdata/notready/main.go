// Command notready is a release that never becomes ready: it answers
// `version` like the app (stamped by internal/build), and its `serve` fails
// in the way its version names, notready-<mode>:
//
//	hang     never tells systemd READY=1 and never listens (the default)
//	exit     exits 1 after a second, as a release whose migration fails
//	unready  serves through the app's own web.Serve, whose readiness check
//	         never passes: it would answer every request with its commit
//	         if it ever accepted one
//	serve503 the app before its readiness gate: it accepts at once, says
//	         READY=1 and answers /readyz 503 (its commit in every body), the
//	         benchmark's never-ready release for a restart in place
//	readyunless  ready and serving (its commit in every body, /readyz 200)
//	         on a server without the file NotReadyHere, unready as unready
//	         on one with it: a release that fails on one host of several;
//	         its `migrate status` lists one migration, applied
//
// Deploy must keep the old release serving from each of them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-dev/slipway/internal/version"
	"github.com/slipway-dev/slipway/internal/web"
)

// NotReadyHere is the file that makes readyunless never ready on a server.
const NotReadyHere = "/etc/slipway-test-not-ready-here"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		// Stamped by internal/build like the app.
		fmt.Printf("version %s\ncommit %s\ngo go1\n", version.Version, version.Commit)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "jobs" {
		// No jobs or workers (release-install asks).
		fmt.Println(`{"jobs":[],"workers":[]}`)
		return
	}
	mode := strings.TrimPrefix(version.Version, "notready-")
	if mode == "readyunless" && len(os.Args) > 2 && os.Args[1] == "migrate" && os.Args[2] == "status" {
		// As an app whose migrations the database has: deploy asks before
		// the switch, and backs up "in case" when it gets no answer.
		fmt.Println("VERSION STATE FILE\n1 applied 00001_none.sql")
		return
	}
	ready := false
	if mode == "readyunless" {
		_, err := os.Stat(NotReadyHere)
		ready, mode = err != nil, "unready"
	}
	commit := version.Commit
	fmt.Fprintf(os.Stderr, "notready (%s): starting, and never getting there\n", mode)
	switch mode {
	case "exit":
		time.Sleep(time.Second)
		fmt.Fprintln(os.Stderr, "notready: giving up, exit 1")
		os.Exit(1)
	case "unready", "serve503":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		ls, err := web.Listen("127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ready {
				fmt.Fprintf(w, `{"status":"ready","commit":%q}`, commit)
				return
			}
			if r.URL.Path == "/readyz" {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintf(w, `{"status":"not ready","commit":%q}`, commit)
		})
		log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
		o := web.ServeOptions{Log: log, Status: "serving commit=" + commit, Proxy: ls.Proxy}
		if mode == "unready" && !ready {
			o.Ready = func(context.Context) error { return errors.New("its own readiness check fails") }
		}
		err = web.Serve(ctx, ls.App, h, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		for {
			time.Sleep(time.Hour)
		}
	}
}
