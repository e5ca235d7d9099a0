package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/remote"
)

// UploadOptions configures Upload.
type UploadOptions struct {
	// Host is the ssh alias uploaded to; SSHConfig its ssh config ("" is
	// ~/.ssh/config), as for deploy. Host "" is DEPLOY_HOST's first alias,
	// with SSHConfig then DEPLOY_SSH_CONFIG.
	Host, SSHConfig string
	// Binary is the binary uploaded, padded with random bytes to Size (an
	// ELF ignores what follows its segments); 0 is 20 MiB.
	Binary string
	Size   int64
	// Runs per method; 0 is 5. Medians are reported.
	Runs int
	// Getenv reads SSH_AUTH_SOCK and, without Host, DEPLOY_HOST and
	// DEPLOY_SSH_CONFIG; nil is os.Getenv.
	Getenv func(string) string
	Log    *slog.Logger
}

// uploadHost is the host bench:upload measures: DEPLOY_HOST's first alias
// (deploy's first host) and DEPLOY_SSH_CONFIG, as deploy reads them.
func uploadHost(getenv func(string) string) (host, sshConfig string) {
	host, _, _ = strings.Cut(getenv("DEPLOY_HOST"), ",")
	return strings.TrimSpace(host), getenv("DEPLOY_SSH_CONFIG")
}

// UploadResult holds the median upload times.
type UploadResult struct {
	Size          int64
	Runs          int
	GoSCP         time.Duration // upload on an open connection, as deploy does
	GoSCPWithDial time.Duration // connect + upload, as one scp invocation does
	OpenSSHSCP    time.Duration // `scp` (SFTP protocol, OpenSSH 9 default)
	OpenSSHLegacy time.Duration // `scp -O` (the scp protocol go-scp speaks)
}

// Upload times uploading a Size binary with deploy's go-scp path
// (remote.Client.Upload) against OpenSSH's scp to the same sshd. It works in
// a scratch folder on the server and removes it; the app and its releases
// are not touched. What a redeploy sends is bench:deploy's "unchanged"
// column.
func Upload(ctx context.Context, o UploadOptions) (UploadResult, error) {
	if o.Size <= 0 {
		o.Size = 20 << 20
	}
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Host == "" {
		o.Host, o.SSHConfig = uploadHost(o.Getenv)
	}
	if o.Host == "" {
		return UploadResult{}, fmt.Errorf("bench:upload: set DEPLOY_HOST to an ssh alias (e.g. the sandbox's)")
	}
	res := UploadResult{Size: o.Size, Runs: o.Runs}
	bin, err := paddedBinary(o.Binary, o.Size)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(filepath.Dir(bin))

	dial := func() (*remote.Client, error) {
		return remote.Dial(ctx, remote.Options{Alias: o.Host, ConfigPath: o.SSHConfig, Getenv: o.Getenv, Log: o.Log})
	}
	c, err := dial()
	if err != nil {
		return res, err
	}
	defer c.Close()
	out, err := c.Run(ctx, "mktemp -d /tmp/slipway-bench.XXXXXX", nil)
	if err != nil {
		return res, err
	}
	scratch := strings.TrimSpace(string(out))
	defer c.Run(context.WithoutCancel(ctx), "rm -rf "+remote.Quote(scratch), nil)

	cfgFlag := []string{}
	if o.SSHConfig != "" {
		cfgFlag = []string{"-F", o.SSHConfig}
	}
	var goT, goDialT, sftpT, legacyT []time.Duration
	for i := range o.Runs {
		dst := fmt.Sprintf("%s/go-%d", scratch, i)
		d, err := timed(func() error { return c.Upload(ctx, bin, dst, 0o644, nil) })
		if err != nil {
			return res, err
		}
		goT = append(goT, d)

		d, err = timed(func() error {
			fresh, err := dial()
			if err != nil {
				return err
			}
			defer fresh.Close()
			return fresh.Upload(ctx, bin, dst+"-dial", 0o644, nil)
		})
		if err != nil {
			return res, err
		}
		goDialT = append(goDialT, d)

		for _, m := range []struct {
			flags []string
			into  *[]time.Duration
		}{{nil, &sftpT}, {[]string{"-O"}, &legacyT}} {
			args := append(append(append([]string{"-q", "-o", "BatchMode=yes"}, cfgFlag...), m.flags...), bin, fmt.Sprintf("%s:%s/ossh-%d", o.Host, scratch, i))
			d, err := timed(func() error {
				if b, err := exec.CommandContext(ctx, "scp", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("scp %s: %w: %s", strings.Join(args, " "), err, b)
				}
				return nil
			})
			if err != nil {
				return res, err
			}
			*m.into = append(*m.into, d)
		}
		// Keep the server's disk from filling up over the runs.
		if _, err := c.Run(ctx, "rm -f "+remote.Quote(scratch)+"/*", nil); err != nil {
			return res, err
		}
	}
	res.GoSCP, res.GoSCPWithDial, res.OpenSSHSCP, res.OpenSSHLegacy = Median(goT), Median(goDialT), Median(sftpT), Median(legacyT)
	return res, nil
}

// Print writes the table.
func (r UploadResult) Print(w io.Writer) {
	t := Table{
		Title:  fmt.Sprintf("bench:upload: a %s binary, medians of %d", Size(r.Size), r.Runs),
		Header: []string{"method", "wall", "throughput", "ratio to OpenSSH scp"},
	}
	for _, row := range []struct {
		name string
		d    time.Duration
	}{
		{"go-scp on the deploy connection", r.GoSCP},
		{"go-scp, connect + upload", r.GoSCPWithDial},
		{"OpenSSH scp (SFTP, default)", r.OpenSSHSCP},
		{"OpenSSH scp -O (scp protocol)", r.OpenSSHLegacy},
	} {
		t.Add(row.name, Dur(row.d), fmt.Sprintf("%.1f MiB/s", float64(r.Size)/(1<<20)/row.d.Seconds()), Ratio(row.d, r.OpenSSHSCP))
	}
	t.Note("goal: go-scp / scp ≤ 1.0")
	t.Print(w)
}

// paddedBinary copies bin, padded with random bytes to size, into a
// temporary folder.
func paddedBinary(bin string, size int64) (string, error) {
	dir, err := os.MkdirTemp("", "slipway-benchupload-")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "app")
	in, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("bench:upload: %w (run buildApp first)", err)
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
	return dst, nil
}
