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
	_, err := Open(context.Background(), "postgres://app:hunter2-secret@host:notaport/db", time.Second, quiet)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is not a valid") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("password in error: %v", err)
	}
}
