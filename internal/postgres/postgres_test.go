package postgres

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

func TestOpenReachableDatabase(t *testing.T) {
	pool, err := Open(context.Background(), pgtest.URL(t), time.Second, quiet)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
}

func TestServerErrorsFailAtOnce(t *testing.T) {
	url := pgtest.WithDatabase(pgtest.AdminURL(t), "no_such_db")
	start := time.Now()
	_, err := Open(context.Background(), url, 30*time.Second, quiet)
	if err == nil || !strings.Contains(err.Error(), `database "no_such_db" does not exist`) {
		t.Fatalf("got %v", err)
	}
	// Waiting won't create the database: no retry loop up to DB_WAIT.
	if time.Since(start) > 10*time.Second {
		t.Errorf("a server-side error was retried for %s", time.Since(start))
	}
}

func TestBadURLNeverEchoesThePassword(t *testing.T) {
	// pgx masks what it takes for the password, but finds it by the first
	// '@' and ':': a password holding them leaks in part.
	for _, u := range []string{
		"postgres://app:hunter2-secret@host:notaport/db",
		"postgres://app:hunter2@secret:part@host:notaport/db",
		"postgres://app:hunter2%zzsecret@host/db",
		"host=db user=app password=hunter2@secret port=x",
	} {
		_, err := Open(context.Background(), u, time.Second, quiet)
		if err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL is not a valid") {
			t.Fatalf("%s: got %v", u, err)
		}
		for _, part := range []string{"hunter2", "secret", "part"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("password part %q in error: %v", part, err)
			}
		}
	}
}
