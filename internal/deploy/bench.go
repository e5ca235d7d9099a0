package deploy

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
)

// BenchOptions configures BenchUpload.
type BenchOptions struct {
	// Options gives the host (the first of Hosts), ssh config and binary.
	Options
	// Size is the uploaded binary's size: Binary padded with random bytes
	// (an ELF ignores what follows its segments). 0 is 20 MiB.
	Size int64
	// Runs per method; 0 is 5. Medians are reported.
	Runs int
}

// BenchResult holds the medians and the redeploy's traffic.
type BenchResult struct {
	Size           int64
	GoSCP          time.Duration // upload on an open connection
	GoSCPWithDial  time.Duration // connect + upload, as one scp invocation does
	OpenSSHSCP     time.Duration // `scp` (SFTP protocol, OpenSSH 9 default)
	OpenSSHLegacy  time.Duration // `scp -O` (the scp protocol go-scp speaks)
	FirstShipBytes int64         // SSH traffic of the same step for a new binary
	RedeployBytes  int64         // bytes of binary sent when unchanged
	RedeployTotal  int64         // all SSH traffic of that step: reading the releases
}

// BenchUpload times uploading a Size binary with deploy's go-scp path
// against OpenSSH's scp to the same sshd, and measures what a redeploy of an
// unchanged binary sends. It works in a scratch folder on the server and
// removes it; the app and its releases are not touched.
func BenchUpload(ctx context.Context, o BenchOptions) (BenchResult, error) {
	o.Options = o.Options.withDefaults()
	if o.Size <= 0 {
		o.Size = 20 << 20
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if len(o.Hosts) == 0 {
		return BenchResult{}, fmt.Errorf("benchUpload: set DEPLOY_HOST to an ssh alias (e.g. the sandbox's)")
	}
	host := o.Hosts[0]
	res := BenchResult{Size: o.Size}
	bin, err := paddedBinary(o.Binary, o.Size)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(filepath.Dir(bin))

	s, err := connect(ctx, o.Options, host)
	if err != nil {
		return res, err
	}
	defer s.Close()
	out, err := s.c.Run(ctx, "mktemp -d /tmp/slipway-bench.XXXXXX", nil)
	if err != nil {
		return res, err
	}
	scratch := strings.TrimSpace(string(out))
	defer s.c.Run(context.WithoutCancel(ctx), "rm -rf "+remote.Quote(scratch), nil)

	cfgFlag := []string{}
	if o.SSHConfig != "" {
		cfgFlag = []string{"-F", o.SSHConfig}
	}
	var goT, goDialT, sftpT, legacyT []time.Duration
	for i := range o.Runs {
		dst := fmt.Sprintf("%s/go-%d", scratch, i)
		t0 := time.Now()
		if err := s.c.Upload(ctx, bin, dst, 0o644, nil); err != nil {
			return res, err
		}
		goT = append(goT, time.Since(t0))

		t0 = time.Now()
		fresh, err := connect(ctx, o.Options, host)
		if err != nil {
			return res, err
		}
		err = fresh.c.Upload(ctx, bin, dst+"-dial", 0o644, nil)
		fresh.Close()
		if err != nil {
			return res, err
		}
		goDialT = append(goDialT, time.Since(t0))

		for _, m := range []struct {
			flags []string
			into  *[]time.Duration
		}{{nil, &sftpT}, {[]string{"-O"}, &legacyT}} {
			args := append(append(append([]string{"-q", "-o", "BatchMode=yes"}, cfgFlag...), m.flags...), bin, fmt.Sprintf("%s:%s/ossh-%d", host, scratch, i))
			t0 = time.Now()
			cmd := exec.CommandContext(ctx, "scp", args...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return res, fmt.Errorf("scp %s: %w: %s", strings.Join(args, " "), err, b)
			}
			*m.into = append(*m.into, time.Since(t0))
		}
		// Keep the server's disk from filling up over the runs.
		if _, err := s.c.Run(ctx, "rm -f "+remote.Quote(scratch)+"/*", nil); err != nil {
			return res, err
		}
	}
	res.GoSCP, res.GoSCPWithDial, res.OpenSSHSCP, res.OpenSSHLegacy = median(goT), median(goDialT), median(sftpT), median(legacyT)

	// The redeploy: deploy's own ship step into a scratch deploy path, twice.
	art, err := LoadArtifact(bin)
	if err != nil {
		return res, err
	}
	bs := &Server{Alias: host, c: s.c, svc: o.Service}
	bs.svc.DeployPath = scratch + "/dp"
	quiet := o.Options
	quiet.Stdout = io.Discard
	for i, into := range []*int64{&res.FirstShipBytes, &res.RedeployTotal} {
		before := s.c.BytesSent()
		st, err := bs.inspect(ctx)
		if err != nil {
			return res, err
		}
		_, uploaded, err := bs.ship(ctx, quiet, st, art)
		if err != nil {
			return res, err
		}
		*into = s.c.BytesSent() - before
		if i == 1 && uploaded {
			res.RedeployBytes = art.Size
		}
	}
	return res, nil
}

// Print writes the figures.
func (r BenchResult) Print(w io.Writer) {
	fmt.Fprintf(w, "upload of a %.1f MiB binary, medians:\n", mib(r.Size))
	fmt.Fprintf(w, "  go-scp on the deploy connection   %8s  %6.1f MiB/s\n", r.GoSCP.Round(time.Millisecond), mib(r.Size)/r.GoSCP.Seconds())
	fmt.Fprintf(w, "  go-scp, connect + upload          %8s\n", r.GoSCPWithDial.Round(time.Millisecond))
	fmt.Fprintf(w, "  OpenSSH scp (SFTP, default)       %8s\n", r.OpenSSHSCP.Round(time.Millisecond))
	fmt.Fprintf(w, "  OpenSSH scp -O (scp protocol)     %8s\n", r.OpenSSHLegacy.Round(time.Millisecond))
	fmt.Fprintf(w, "  ratio go-scp / scp                %8.2f  (connect + upload: %.2f; goal <= 1.0)\n",
		r.GoSCP.Seconds()/r.OpenSSHSCP.Seconds(), r.GoSCPWithDial.Seconds()/r.OpenSSHSCP.Seconds())
	fmt.Fprintf(w, "redeploy of the same binary: %d bytes of binary sent (goal 0); %d bytes of SSH traffic in all (reading the releases)\n", r.RedeployBytes, r.RedeployTotal)
	fmt.Fprintf(w, "first ship of that binary: %d bytes of SSH traffic\n", r.FirstShipBytes)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// paddedBinary copies bin, padded with random bytes to size, with its
// checksum, into a temporary folder.
func paddedBinary(bin string, size int64) (string, error) {
	if _, err := LoadArtifact(bin); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "app")
	in, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer in.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, in)
	if err == nil && n < size {
		_, err = io.CopyN(f, rand.Reader, size-n)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("pad binary: %w", err)
	}
	a, err := hashOnly(dst)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst+".sha256", []byte(a+"  app\n"), 0o644)
}

func hashOnly(path string) (string, error) {
	a, err := LoadArtifact(path)
	if err != nil && a.SHA256 == "" {
		return "", err
	}
	return a.SHA256, nil
}
