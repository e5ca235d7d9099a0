package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostError is a server whose host key known_hosts does not hold,
// with StrictHostKeyChecking not accept-new: nothing was sent to it.
type UnknownHostError struct {
	Alias string
	// Name is the host as known_hosts spells it ("[127.0.0.1]:2222").
	Name string
	Key  ssh.PublicKey
	// File is the known_hosts file the line belongs in; "$DEPLOY_SSH_KNOWN_HOSTS"
	// when the lines come from that setting.
	File string
}

func (e *UnknownHostError) Error() string {
	line := knownhosts.Line([]string{e.Name}, e.Key)
	if e.File == "$"+EnvKnownHosts {
		// One line: what a CI job's log shows.
		return fmt.Sprintf("unknown host %s (%s): %s holds no key for it, refusing to connect; the server offers %s %s: "+
			"compare it with the server's own (on its console: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then put this line in %s: %s",
			e.Alias, e.Name, EnvKnownHosts, e.Key.Type(), ssh.FingerprintSHA256(e.Key), keyFileType(e.Key.Type()), EnvKnownHosts, line)
	}
	return fmt.Sprintf("unknown host %s (%s): its host key is not in %s, refusing to connect.\n"+
		"  The server offers %s %s.\n"+
		"  Compare it with the server's own (on its console: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then trust it with:\n"+
		"    echo '%s' >> %s\n"+
		"  or set `StrictHostKeyChecking accept-new` under `Host %s` to record it on first use.",
		e.Alias, e.Name, e.File, e.Key.Type(), ssh.FingerprintSHA256(e.Key),
		keyFileType(e.Key.Type()), line, e.File, e.Alias)
}

// keyFileType names the sshd host key file for a key type.
func keyFileType(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ed25519"
	case strings.Contains(t, "ecdsa"):
		return "ecdsa"
	default:
		return "rsa"
	}
}

// HostKeyChangedError is a server whose host key differs from the one
// known_hosts holds for it: possibly someone in the middle. Nothing was sent.
type HostKeyChangedError struct {
	Alias string
	Name  string
	Key   ssh.PublicKey
	Known []knownhosts.KnownKey
}

func (e *HostKeyChangedError) Error() string {
	var lines []string
	for _, k := range e.Known {
		lines = append(lines, fmt.Sprintf("%s:%d (%s %s)", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
	}
	file := ""
	if len(e.Known) > 0 {
		file = e.Known[0].Filename
	}
	if file == "$"+EnvKnownHosts {
		var pinned []string
		for _, k := range e.Known {
			pinned = append(pinned, fmt.Sprintf("line %d (%s %s)", k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
		// One line: what a CI job's log shows.
		return fmt.Sprintf("HOST KEY CHANGED for %s (%s): REFUSING TO CONNECT: the server offers %s %s, but %s pins %s; "+
			"someone may be intercepting the connection: if the server was reinstalled, check its new key on its console "+
			"(ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub) before updating the secret",
			e.Alias, e.Name, e.Key.Type(), ssh.FingerprintSHA256(e.Key), EnvKnownHosts, strings.Join(pinned, ", "), keyFileType(e.Key.Type()))
	}
	return fmt.Sprintf("HOST KEY CHANGED for %s (%s): REFUSING TO CONNECT.\n"+
		"  The server offers %s %s, but known_hosts says: %s.\n"+
		"  Someone may be intercepting the connection. If the server was reinstalled and you have checked the new\n"+
		"  key with its owner, remove the old entry with: ssh-keygen -R '%s' -f %s",
		e.Alias, e.Name, e.Key.Type(), ssh.FingerprintSHA256(e.Key), strings.Join(lines, "; "), e.Name, file)
}

// hostKeys builds the host key callback for cfg and the host key algorithms
// to offer: only those known_hosts holds keys of for this host, so the
// server presents the key we can check (x/crypto would otherwise prefer
// ecdsa/rsa while OpenSSH usually recorded only ed25519), with the
// certificate algorithms first when a `@cert-authority` line covers the
// host, as OpenSSH does. record is called with the new known_hosts line
// when accept-new records a key.
func hostKeys(cfg Config, record func(file, line string)) (ssh.HostKeyCallback, []string, error) {
	var files []string
	for _, f := range append(append([]string{}, cfg.UserKnownHostsFiles...), cfg.GlobalKnownHostsFiles...) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	// label names the known_hosts source in messages: the file, or the
	// DEPLOY_SSH_KNOWN_HOSTS setting (read through a file knownhosts can
	// open, removed once read).
	label := func(f string) string { return f }
	if cfg.KnownHosts != nil {
		tmp, err := knownHostsFile(cfg.KnownHosts)
		if err != nil {
			return nil, nil, err
		}
		defer os.Remove(tmp)
		files = []string{tmp}
		label = func(f string) string {
			if f == tmp {
				return "$" + EnvKnownHosts
			}
			return f
		}
	}
	db := func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	var cas caLines
	if len(files) > 0 {
		var err error
		if db, err = knownhosts.New(files...); err != nil {
			return nil, nil, fmt.Errorf("read known_hosts: %w", err)
		}
		if cas, err = readCALines(files); err != nil {
			return nil, nil, err
		}
	}
	host := cfg.HostName
	port := cfg.Port
	if cfg.HostKeyAlias != "" {
		host, port = cfg.HostKeyAlias, 22
	}
	// knownhosts wants host:port even for port 22 (it normalises itself);
	// messages and recorded lines use known_hosts' own spelling.
	hostPort := joinHostPort(host, port)
	name := knownhosts.Normalize(hostPort)
	// knownhosts only uses the address when no name is given.
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}

	known, err := knownKeys(db, hostPort, addr, cas)
	if err != nil {
		return nil, nil, err
	}
	hasCA, err := cas.cover(hostPort, addr)
	if err != nil {
		return nil, nil, err
	}
	algos := algorithmsFor(known, hasCA)

	userFile := ""
	if len(cfg.UserKnownHostsFiles) > 0 {
		userFile = cfg.UserKnownHostsFiles[0]
	}
	if cfg.KnownHosts != nil {
		userFile = "$" + EnvKnownHosts
	}
	cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
		err := db(hostPort, addr, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		if errors.As(err, &ke) {
			// A CA is not a host key: a host known only by its CA and
			// showing a plain key is unknown, not changed.
			ke.Want = cas.without(ke.Want)
		}
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return fmt.Errorf("host key of %s (%s) is revoked in %s:%d: refusing to connect", cfg.Alias, name, label(re.Revoked.Filename), re.Revoked.Line)
		case errors.As(err, &ke) && len(ke.Want) > 0:
			known := append([]knownhosts.KnownKey(nil), ke.Want...)
			for i := range known {
				known[i].Filename = label(known[i].Filename)
			}
			return &HostKeyChangedError{Alias: cfg.Alias, Name: name, Key: key, Known: known}
		case errors.As(err, &ke):
			// OpenSSH's "no" also adds unknown keys; neither accepts a changed one.
			if cfg.KnownHosts != nil || cfg.StrictHostKeyChecking != "accept-new" && cfg.StrictHostKeyChecking != "false" {
				return &UnknownHostError{Alias: cfg.Alias, Name: name, Key: key, File: userFile}
			}
			if userFile == "" {
				return fmt.Errorf("host key of %s: accept-new, but no UserKnownHostsFile to record it in", cfg.Alias)
			}
			recorded := name
			if cfg.HashKnownHosts {
				recorded = knownhosts.HashHostname(name)
			}
			line := knownhosts.Line([]string{recorded}, key)
			if err := appendLine(userFile, line); err != nil {
				return fmt.Errorf("record host key of %s: %w", cfg.Alias, err)
			}
			if record != nil {
				record(userFile, line)
			}
			return nil
		case err != nil && hasCA && isCert(key):
			return fmt.Errorf("host certificate of %s (%s) refused: %w", cfg.Alias, name, err)
		default:
			return fmt.Errorf("check host key of %s: %w", cfg.Alias, err)
		}
	}
	return cb, algos, nil
}

// knownHostsFile writes DEPLOY_SSH_KNOWN_HOSTS' lines to a private
// temporary file: knownhosts reads only files.
func knownHostsFile(lines []byte) (string, error) {
	f, err := os.CreateTemp("", "slipway-known-hosts-")
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvKnownHosts, err)
	}
	if _, err := f.Write(lines); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("%s: %w", EnvKnownHosts, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("%s: %w", EnvKnownHosts, err)
	}
	return f.Name(), nil
}

func isCert(k ssh.PublicKey) bool {
	_, ok := k.(*ssh.Certificate)
	return ok
}

// knownKeys returns the host keys known_hosts holds for name (CA lines
// left out): checking a key nobody has makes knownhosts list them in the
// KeyError.
func knownKeys(db ssh.HostKeyCallback, name string, addr net.Addr, cas caLines) ([]knownhosts.KnownKey, error) {
	probe, _, err := probeKey()
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if err := db(name, addr, probe); errors.As(err, &ke) {
		return cas.without(ke.Want), nil
	}
	return nil, nil
}

func probeKey() (ssh.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	k, err := ssh.NewPublicKey(pub)
	return k, priv, err
}

// certPreferred and preferred are the orders OpenSSH offers host key
// algorithms in (`ssh -G` hostkeyalgorithms), minus SHA-1 ssh-rsa, which
// OpenSSH has refused by default since 8.8.
var (
	certPreferred = []string{
		ssh.CertAlgoED25519v01,
		ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
		ssh.CertAlgoSKED25519v01, ssh.CertAlgoSKECDSA256v01,
		ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	}
	preferred = []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
	}
)

// algorithmsFor lists the host key algorithms matching the known key types,
// in OpenSSH's order, after the certificate ones when a CA covers the host;
// for an unknown host, all of them in that order (so accept-new records the
// key OpenSSH would have recorded).
func algorithmsFor(known []knownhosts.KnownKey, hasCA bool) []string {
	have := map[string]bool{}
	for _, k := range known {
		t := k.Key.Type()
		have[t] = true
		if t == ssh.KeyAlgoRSA {
			// An rsa key is used with the SHA-2 signature algorithms.
			have[ssh.KeyAlgoRSASHA512], have[ssh.KeyAlgoRSASHA256] = true, true
		}
	}
	var out []string
	if hasCA {
		out = append(out, certPreferred...)
	}
	for _, a := range preferred {
		if len(have) == 0 || have[a] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		// Key types we don't rank: offer them as they are, never SHA-1 rsa.
		for t := range have {
			if t != ssh.KeyAlgoRSA {
				out = append(out, t)
			}
		}
	}
	return out
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
