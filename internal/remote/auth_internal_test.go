package remote

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// x/crypto signs with SHA-1 ssh-rsa when the server sends no server-sig-algs
// or lists no SHA-2 algorithm, unless the signer says it can't: OpenSSH's
// own sshd always lists them, so this is checked on the signers we hand it.
func TestRSAUserKeysNeverSignWithSHA1(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id_rsa")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(rk, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	got, closer, err := signers(Config{Alias: "x", IdentityFiles: []string{key}, IdentitiesOnly: true}, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	if len(got) != 1 {
		t.Fatalf("%d signers", len(got))
	}
	m, ok := got[0].(ssh.MultiAlgorithmSigner)
	if !ok {
		t.Fatalf("the rsa signer %T doesn't restrict its algorithms: x/crypto may use ssh-rsa (SHA-1)", got[0])
	}
	if slices.Contains(m.Algorithms(), ssh.KeyAlgoRSA) || len(m.Algorithms()) == 0 {
		t.Errorf("rsa signer algorithms %v, want SHA-2 only", m.Algorithms())
	}
}
