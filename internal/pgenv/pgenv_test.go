package pgenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const hard = `pa$$ "w" 'o' \r d`

func TestURLAndKeyValueGiveTheSameVariables(t *testing.T) {
	u := (&url.URL{Scheme: "postgres", User: url.UserPassword("app", hard), Host: "db.internal:5433", Path: "/shop",
		RawQuery: "sslmode=require&application_name=web&search_path=s1"}).String()
	kv := `host=db.internal port=5433 user=app dbname=shop sslmode=require application_name=web search_path=s1 password='` +
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(hard) + `'`
	a, err := Vars("DATABASE_URL", u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Vars("DATABASE_URL", kv)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PGAPPNAME=web", "PGDATABASE=shop", "PGHOST=db.internal", "PGOPTIONS=-c search_path=s1",
		"PGPASSWORD=" + hard, "PGPORT=5433", "PGSSLMODE=require", "PGUSER=app"}
	if !slices.Equal(a, want) || !slices.Equal(b, want) {
		t.Fatalf("URL form:\n%q\nkey=value form:\n%q\nwant\n%q", a, b, want)
	}
}

func TestSSLModes(t *testing.T) {
	for mode, want := range map[string]string{"disable": "disable", "allow": "allow", "prefer": "prefer", "require": "require", "verify-full": "verify-full"} {
		got, err := Vars("DATABASE_URL", "postgres://u@h/d?sslmode="+mode)
		if err != nil || !slices.Contains(got, "PGSSLMODE="+want) {
			t.Errorf("sslmode=%s: %q, %v; want PGSSLMODE=%s", mode, got, err, want)
		}
	}
}

func TestRefusalsAreOneLineWithoutTheSecret(t *testing.T) {
	for _, u := range []string{"", "postgres://u:" + url.QueryEscape(hard) + "@h:notaport/d", "host=h sslmode=bogus password=" + "s3cret"} {
		_, err := Vars("DATABASE_URL", u)
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pa$$") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Vars(%q): %v; want one line naming DATABASE_URL, no password", u, err)
		}
	}
}

// The tools get what the app gets: psql connects with nothing but the
// variables, to the database and as the user the URL names.
func TestPsqlConnectsWithTheVariables(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql: apt-get install postgresql-client")
	}
	dbURL := pgtest.EmptyURL(t)
	vars, err := Vars("DATABASE_URL", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("psql", "-X", "-At", "-c", "SELECT current_database() || ' ' || current_user")
	cmd.Env = append(os.Environ(), vars...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	u, _ := url.Parse(dbURL)
	if !strings.HasPrefix(string(out), strings.TrimPrefix(u.Path, "/")+" ") {
		t.Fatalf("psql connected to %q, want database %s", out, u.Path)
	}
}

func TestThePoolsAndPgxsOwnSettingsAreNotSentAsServerOptions(t *testing.T) {
	got, err := Vars("DATABASE_URL", "postgres://u@h/d?pool_max_conns=4&pool_max_conn_lifetime=1h&statement_cache_capacity=64&default_query_exec_mode=exec&search_path=s1")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "PGOPTIONS=") && kv != "PGOPTIONS=-c search_path=s1" {
			t.Errorf("%s: pgxpool's and pgx's settings reach the server as options", kv)
		}
	}
}

// The TLS files of the URL form go to libpq by path, with the mode: an app
// host reaching the database host with verify-full against its CA.
func TestTheURLsTLSFilesArePassedOnByPath(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte(testCAPEM(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Vars("DATABASE_URL", "postgres://u:p@10.9.8.1:5432/d?sslmode=verify-full&sslrootcert="+url.QueryEscape(ca))
	if err != nil || !slices.Contains(got, "PGSSLMODE=verify-full") || !slices.Contains(got, "PGSSLROOTCERT="+ca) {
		t.Errorf("verify-full with a CA: %q, %v", got, err)
	}
	_, err = Vars("DATABASE_URL", "host=10.9.8.1 user=u dbname=d sslmode=verify-full sslrootcert="+ca)
	if err == nil || !strings.Contains(err.Error(), "write the URL form") {
		t.Errorf("key=value form with a CA: %v", err)
	}
}

// testCAPEM is a self-signed certificate, PEM-encoded.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
