package backup

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/appexec"
)

// Migrations is what a release's binary says of its embedded migrations
// against the server's database (`app migrate status`).
type Migrations struct {
	Latest  int64 // the highest version it embeds: the schema it runs on
	Applied int64 // the database's highest applied version among them
	Pending int   // migrations it would apply when it starts
	// PendingFiles names them, oldest first.
	PendingFiles []string
}

// askTimeout bounds the question: a binary that doesn't answer `migrate
// status` (one that hangs starting up) is stopped by systemd then.
const askTimeout = 20 * time.Second

// Migrations asks release's binary, run as the service with its env file
// (appexec.ReleaseCommand), which of its migrations the database lacks.
func (s Server) Migrations(ctx context.Context, release string) (Migrations, error) {
	out, err := s.R.RunRoot(ctx, appexec.ReleaseCommand(s.C, release, []string{"RuntimeMaxSec=" + strconv.Itoa(int(askTimeout/time.Second))}, "migrate", "status"), nil)
	if err != nil {
		return Migrations{}, fmt.Errorf("ask release %s on %s for its pending migrations: %w", release, s.Alias, err)
	}
	return parseStatus(out)
}

// parseStatus reads `app migrate status`: VERSION STATE ... lines.
func parseStatus(out []byte) (Migrations, error) {
	var m Migrations
	rows := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue // the header
		}
		rows++
		m.Latest = max(m.Latest, v)
		switch f[1] {
		case "pending":
			m.Pending++
			m.PendingFiles = append(m.PendingFiles, f[len(f)-1])
		case "applied":
			m.Applied = max(m.Applied, v)
		}
	}
	if rows == 0 {
		return m, fmt.Errorf("`app migrate status` listed no migrations:\n%s", bytes.TrimSpace(out))
	}
	return m, nil
}
