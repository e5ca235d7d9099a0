package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/pgtest"
)

const adminPW = "correct horse battery staple"

type adminRun struct {
	out, log string
	err      error
}

func adminCreate(t *testing.T, dbURL, pepper, stdin string, args ...string) adminRun {
	t.Helper()
	env := map[string]string{"DATABASE_URL": dbURL, "PASSWORD_PEPPER": pepper, "LOG_FORMAT": "json"}
	var out, log bytes.Buffer
	err := run(context.Background(), append([]string{"admin", "create"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &log)
	return adminRun{out.String(), log.String(), err}
}

func hashOf(t *testing.T, dbURL, email string) string {
	t.Helper()
	var h string
	if err := pgtest.SQLDB(t, dbURL).QueryRow("SELECT password_hash FROM users WHERE email = $1", email).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAdminCreateIsIdempotent(t *testing.T) {
	dbURL := pgtest.EmptyURL(t) // admin create migrates a fresh database itself
	const pepper = "pepper-for-tests-0123456789"
	r := adminCreate(t, dbURL, pepper, adminPW+"\n", "-email", " Ada@Example.com ")
	if r.err != nil || !strings.Contains(r.out, "created admin ada@example.com") {
		t.Fatalf("first create: %q %v", r.out, r.err)
	}
	first := hashOf(t, dbURL, "ada@example.com")
	if !strings.HasPrefix(first, "$argon2id$") {
		t.Errorf("stored hash %q is not argon2id", first)
	}
	r2 := adminCreate(t, dbURL, pepper, "another password entirely\n", "-email", "ada@example.com")
	if r2.err != nil || !strings.Contains(r2.out, "already exists: nothing changed") {
		t.Errorf("second create: %q %v, want exit 0 with already exists", r2.out, r2.err)
	}
	if hashOf(t, dbURL, "ada@example.com") != first {
		t.Error("second create changed the password")
	}
	r3 := adminCreate(t, dbURL, pepper, "a brand new passphrase\n", "-email", "ada@example.com", "-reset-password")
	if r3.err != nil || !strings.Contains(r3.out, "password reset") || hashOf(t, dbURL, "ada@example.com") == first {
		t.Errorf("reset: %q %v", r3.out, r3.err)
	}
	// The owner's way in past a throttle: a link on stdout, never in the log.
	if !strings.Contains(r3.out, "/admin/login?device=enrol.") || strings.Contains(r3.log, "enrol.") {
		t.Errorf("reset: want the enrolment link on stdout only:\nstdout %q\nlog %q", r3.out, r3.log)
	}
	// The password is nowhere in plain text: not in output, logs or the database.
	for _, r := range []adminRun{r, r2, r3} {
		for _, secret := range []string{adminPW, "a brand new passphrase"} {
			if strings.Contains(r.out+r.log, secret) {
				t.Errorf("password in output or logs: %q %q", r.out, r.log)
			}
		}
	}
	var dump string
	if err := pgtest.SQLDB(t, dbURL).QueryRow("SELECT string_agg(u::text, ' ') FROM users u").Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, adminPW) || strings.Contains(dump, "a brand new passphrase") {
		t.Errorf("plain password stored: %s", dump)
	}
}

func TestAdminCreateRefusals(t *testing.T) {
	dbURL := pgtest.URL(t)
	const pepper = "pepper-for-tests-0123456789"
	for _, tc := range []struct {
		name, pepper, stdin string
		args                []string
		want                string
	}{
		{"weak password", pepper, "short\n", []string{"-email", "bo@example.com"}, "password too short"},
		{"common password", pepper, "password1234\n", []string{"-email", "bo@example.com"}, "most common"},
		{"no password", pepper, "", []string{"-email", "bo@example.com"}, "no password on stdin"},
		{"bad email", pepper, adminPW + "\n", []string{"-email", "bo at example"}, "not a valid email"},
		{"no email", pepper, adminPW + "\n", nil, "email is empty"},
		{"password as argument", pepper, "", []string{"-email", "bo@example.com", adminPW}, "read from stdin, never from arguments"},
		{"no pepper", "", adminPW + "\n", []string{"-email", "bo@example.com"}, "PASSWORD_PEPPER"},
		{"reset of nobody", pepper, adminPW + "\n", []string{"-email", "bo@example.com", "-reset-password"}, "no user bo@example.com"},
	} {
		r := adminCreate(t, dbURL, tc.pepper, tc.stdin, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) || strings.Contains(r.err.Error(), "\n") {
			t.Errorf("%s: %v, want one line containing %q", tc.name, r.err, tc.want)
		}
	}
	var n int
	if err := pgtest.SQLDB(t, dbURL).QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil || n != 0 {
		t.Errorf("refused creates left %d users (%v)", n, err)
	}
}
