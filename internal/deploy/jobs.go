package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
	hclient "github.com/slipway-dev/slipway/internal/helper/client"
)

// Jobs prints each host's jobs (schedule, last run: when, how long,
// result; next run) and worker processes, as the server's systemd sees
// them (helper's jobs-status).
func Jobs(ctx context.Context, o Options) error {
	o = o.withDefaults()
	for _, h := range o.Hosts {
		s, err := dial(ctx, o, h)
		if err != nil {
			return err
		}
		out, err := callStep(ctx, s.c, "jobs-status", helper.AppArgs{App: o.Service.AppName})
		s.Close()
		if err != nil {
			return fmt.Errorf("jobs on %s: %w", h, err)
		}
		printJobs(o, h, out)
	}
	return nil
}

func printJobs(o Options, host string, out []byte) {
	fmt.Fprintf(o.Stdout, "==> %s\n", host)
	tw := tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tLAST RUN (UTC)\tTOOK\tRESULT\tNEXT RUN (UTC)\tNOW")
	jobs, workers := 0, []string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		f := strings.Split(rest, "\t")
		switch {
		case kind == "job" && len(f) == 7:
			jobs++
			took := "-"
			if ms, err := strconv.ParseInt(f[3], 10, 64); err == nil {
				took = (time.Duration(ms) * time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f[0], f[1], unixUTC(f[2]), took, f[4], unixUTC(f[5]), f[6])
		case kind == "worker" && len(f) == 3:
			workers = append(workers, fmt.Sprintf("  %s\t%s\tpid %s", f[0], f[1], f[2]))
		}
	}
	if jobs == 0 {
		fmt.Fprintln(tw, "(no jobs)")
	}
	tw.Flush()
	if len(workers) == 0 {
		fmt.Fprintln(o.Stdout, "workers: none running")
		return
	}
	fmt.Fprintln(o.Stdout, "workers:")
	tw = tabwriter.NewWriter(o.Stdout, 0, 0, 2, ' ', 0)
	for _, w := range workers {
		fmt.Fprintln(tw, w)
	}
	tw.Flush()
}

// workers lists the host's running worker processes.
func workers(ctx context.Context, s *Server, o Options) ([]WorkerStatus, error) {
	out, err := callStep(ctx, s.c, "jobs-status", helper.AppArgs{App: o.Service.AppName})
	if err != nil {
		return nil, fmt.Errorf("workers on %s: %w", s.Alias, err)
	}
	ws := []WorkerStatus{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "worker ")
		if f := strings.Split(rest, "\t"); ok && len(f) == 3 {
			pid, _ := strconv.Atoi(f[2])
			ws = append(ws, WorkerStatus{Unit: f[0], State: f[1], MainPID: pid})
		}
	}
	return ws, nil
}

func unixUTC(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "-"
	}
	return time.Unix(n, 0).UTC().Format("2006-01-02 15:04:05")
}

// RunJob runs the job name now on the first host, as its timer would (the
// same unit: under its lock, never beside a run already going, which it
// then follows), and streams the run's journal lines to o.Stdout. The
// error says how a failed run ended.
func RunJob(ctx context.Context, o Options, name string) error {
	o = o.withDefaults()
	if len(o.Hosts) == 0 {
		return fmt.Errorf("job:run: no host: set DEPLOY_HOST")
	}
	host := o.Hosts[0]
	s, err := dial(ctx, o, host)
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := hclient.Start(ctx, s.c, "job-run", helper.JobRunArgs{App: o.Service.AppName, Name: name})
	if err != nil {
		return err
	}
	defer p.Close()
	p.Stdin.Close()
	result := ""
	sc := bufio.NewScanner(p.Stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "log":
			fmt.Fprintln(o.Stdout, rest)
		case "step":
			fmt.Fprintf(o.Stdout, "%s: %s\n", host, rest)
		case "result":
			result = rest
		}
	}
	werr := p.Wait()
	switch {
	case result == "ok":
		fmt.Fprintf(o.Stdout, "%s: job %s done\n", host, name)
		return nil
	case result != "":
		return fmt.Errorf("job %s on %s: %s", name, host, result)
	case werr != nil:
		return fmt.Errorf("job %s on %s: %w", name, host, werr)
	}
	return fmt.Errorf("job %s on %s: no result from the server", name, host)
}
