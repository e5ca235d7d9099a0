package service

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/slipway-dev/slipway/internal/helper"
	"github.com/slipway-dev/slipway/internal/helper/client"
)

// PostgreSQLMarker is the file provision leaves when it installed
// PostgreSQL itself: only then does it create roles and databases in it. A
// PostgreSQL installed by someone else is theirs; provision only asks for
// the database URL.
const PostgreSQLMarker = "/var/lib/slipway/postgresql-installed-by-provision"

// ensureDatabase gives the app a database when the env file names none: on
// a server without PostgreSQL it installs it, creates the app's role and
// database (named after the app) with a generated password and writes the
// URL and a generated PASSWORD_PEPPER into the env file. An env file that
// sets the URL (an external database, env:set) is left alone and no
// PostgreSQL installed, as with external (PROVISION_DATABASE=external:
// before env:set could set it); a PostgreSQL installed by someone else gets no new
// role: provision asks for the URL instead.
func ensureDatabase(ctx context.Context, r Runner, c Config, external bool, out io.Writer) (int, error) {
	v := c.DatabaseURLVar()
	todo := fmt.Sprintf("todo: set %s in %s (go run mage.go env:set %s), then deploy", v, c.EnvFile(), v)
	name := c.AppName
	args := helper.DatabaseArgs{EnvFile: c.EnvFile(), URLVar: v, Marker: PostgreSQLMarker, External: external, Name: name}
	if !external {
		// Generated here, used only if the role is created: they reach
		// the server in the request, on stdin.
		pw, err := secret()
		if err != nil {
			return 0, err
		}
		if args.Verifier, err = scramVerifier(pw); err != nil {
			return 0, err
		}
		if args.Pepper, err = secret(); err != nil {
			return 0, err
		}
		args.URL = fmt.Sprintf("postgres://%s:%s@/%s?host=/var/run/postgresql", name, pw, name)
	}
	res, err := client.Call(ctx, r, "provision-database", args)
	if err != nil {
		return countChanged(res), fmt.Errorf("provision database: %w: %s", err, bytes.TrimSpace(res))
	}
	total := copyLines(res, out)
	st := result(res)
	switch {
	case st == "ok set":
		fmt.Fprintf(out, "ok: %s set in %s: the app uses the database it names; provision installs no PostgreSQL\n", v, c.EnvFile())
	case st == "ok external":
		fmt.Fprintf(out, "%s: the database is external (PROVISION_DATABASE=external), provision installs no PostgreSQL\n", todo)
	case st == "ok theirs":
		fmt.Fprintf(out, "%s: PostgreSQL was installed without provision, which creates no role in it\n", todo)
	case strings.HasPrefix(st, "ok exists "):
		fmt.Fprintf(out, "%s: %s already in PostgreSQL, with a password provision doesn't know\n", todo, strings.Join(strings.Fields(strings.TrimPrefix(st, "ok exists ")), " and "))
	case st == "ok created":
	default:
		return total, fmt.Errorf("provision database: unexpected answer %q", st)
	}
	return total, nil
}

// secret is 32 random bytes in hex: safe in a URL and an env file as is.
func secret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// scramVerifier is what PostgreSQL stores for password (RFC 5802, 7677;
// PostgreSQL's format): given in CREATE ROLE, the password itself never
// reaches the server's SQL, whatever a log keeps.
func scramVerifier(password string) (string, error) {
	const iter = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, enc(salt), enc(stored[:]), enc(mac(salted, "Server Key"))), nil
}
