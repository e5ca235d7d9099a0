// Command plain is minimal without Slipway: the same handler served by
// net/http on a pgx pool, for the size comparison in deps_test.
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	log.Fatal(http.ListenAndServe(os.Getenv("ADDR"), hello(pool)))
}
