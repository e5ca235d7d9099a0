package main

import (
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
)

// hello greets with the database's answer; plain/hello.go is the same file.
func hello(pool *pgxpool.Pool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := pool.QueryRow(r.Context(), "SELECT count(*) FROM greetings").Scan(&n); err != nil {
			http.Error(w, "database error", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "hello, %d greetings\n", n)
	})
	return mux
}
