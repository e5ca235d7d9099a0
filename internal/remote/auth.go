package remote

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// signers returns the keys to offer, in OpenSSH's order: agent keys that
// match an IdentityFile first (in IdentityFile order), then IdentityFiles
// the agent doesn't hold (unencrypted ones only: we never prompt), then,
// unless IdentitiesOnly, the agent's other keys. Servers give up after
// MaxAuthTries (6 by default) keys, so the order matters. The returned
// closer releases the agent connection.
func signers(cfg Config, getenv func(string) string, log *slog.Logger) ([]ssh.Signer, func(), error) {
	closer := func() {}
	if cfg.Key != nil {
		// DEPLOY_SSH_KEY: that key alone, whatever agent the machine runs.
		s := withoutSHA1(cfg.Key)
		if s == nil {
			return nil, nil, fmt.Errorf("%s: this rsa key can only sign with SHA-1 ssh-rsa, which servers refuse: use an ed25519 key", EnvKey)
		}
		return []ssh.Signer{s}, closer, nil
	}
	var agentKeys []ssh.Signer
	sock := cfg.IdentityAgent
	if sock == "" {
		sock = getenv("SSH_AUTH_SOCK")
	}
	if sock != "" && sock != "none" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			log.Debug("ssh agent unreachable, using key files only", "socket", sock, "err", err)
		} else {
			closer = func() { conn.Close() }
			if agentKeys, err = agent.NewClient(conn).Signers(); err != nil {
				log.Debug("ssh agent: list keys", "err", err)
			}
		}
	}

	var out []ssh.Signer
	used := map[string]bool{}
	add := func(s ssh.Signer) {
		k := string(s.PublicKey().Marshal())
		if s = withoutSHA1(s); s != nil && !used[k] {
			used[k] = true
			out = append(out, s)
		}
	}
	var skipped []string
	for _, f := range cfg.IdentityFiles {
		pub, priv, err := loadIdentity(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // ssh skips the default files that don't exist
		}
		if err != nil && pub == nil {
			skipped = append(skipped, fmt.Sprintf("%s (%v)", f, err))
			continue
		}
		inAgent := false
		for _, a := range agentKeys {
			if bytes.Equal(a.PublicKey().Marshal(), pub.Marshal()) {
				add(a)
				inAgent = true
			}
		}
		switch {
		case inAgent:
		case priv != nil:
			add(priv)
		default:
			skipped = append(skipped, f+" (passphrase-protected and not in the agent: ssh-add it)")
		}
	}
	if !cfg.IdentitiesOnly {
		for _, a := range agentKeys {
			add(a)
		}
	}
	if len(out) == 0 {
		closer()
		why := "no IdentityFile exists and no agent key applies"
		if len(skipped) > 0 {
			why = "unusable: " + strings.Join(skipped, "; ")
		}
		return nil, nil, fmt.Errorf("no key to log in to %s with: %s (set IdentityFile under `Host %s`, or ssh-add a key to the agent)", cfg.Alias, why, cfg.Alias)
	}
	for _, s := range skipped {
		log.Debug("identity file skipped", "file", s)
	}
	return out, closer, nil
}

// loadIdentity reads an identity's public key (from path.pub, or the
// private key when unencrypted) and, when unencrypted, its signer.
func loadIdentity(path string) (ssh.PublicKey, ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		// The agent may hold a key whose private file is elsewhere: ssh
		// accepts a lone .pub to select it.
		if pub, perr := readPub(path + ".pub"); perr == nil {
			return pub, nil, nil
		}
		return nil, nil, err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err == nil {
		return signer.PublicKey(), signer, nil
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) && missing.PublicKey != nil {
		return missing.PublicKey, nil, nil
	}
	if pub, perr := readPub(path + ".pub"); perr == nil {
		return pub, nil, nil
	}
	return nil, nil, fmt.Errorf("read key %s: %w", path, err)
}

func readPub(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	return pub, err
}

// withoutSHA1 restricts an rsa signer to rsa-sha2-512/256: x/crypto falls
// back to SHA-1 ssh-rsa when the server lists no SHA-2 algorithm (OpenSSH
// refuses ssh-rsa by default since 8.8). nil: the key can only do SHA-1.
func withoutSHA1(s ssh.Signer) ssh.Signer {
	if s.PublicKey().Type() != ssh.KeyAlgoRSA {
		return s
	}
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		return nil
	}
	m, err := ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	if err != nil {
		return nil
	}
	return m
}
