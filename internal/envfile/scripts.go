package envfile

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The scripts run as root with sh -c, their arguments quoted words (paths,
// a tag), never a value: the file's text travels on stdin and stdout of
// the root shell and stays in base64, cat, read and sha256sum, which put no value
// in a command line. The text is parsed by Parse only, on the client:
// there is no second reading of the file's syntax in shell.

// ReadScript prints "file <size>" and the env file ($1) in base64 (the
// client cleans what a command prints of control bytes, and cuts it at
// remote.MaxOutput; the file's bytes must arrive as they are, all of
// them), or "missing" when there is none. DecodeRead reads it.
const ReadScript = `f=$1
[ -f "$f" ] || { echo missing; exit 0; }
echo "file $(wc -c < "$f")"
exec base64 < "$f"`

// PrepareScript writes the candidate env file, the text on stdin after a
// first line holding the sha256 of the env file ($1) the text was made
// from, as .<name>.new-<tag> ($2) in the same folder, root:root 0600 from
// its first byte, and prints "candidate <path>". Leftovers of changes that
// died go first: the deploy lock is held, so no handover is using one. An
// env file changed since it was read (by hand, meanwhile) is refused,
// nothing written.
const PrepareScript = `set -eu
f=$1 tag=$2
dir=${f%/*} base=${f##*/}
new="$dir/.$base.new-$tag"
rm -f "$dir/.$base.new-"* "$f.was"
[ -f "$f" ] || { echo "no $f: run provision first" >&2; exit 3; }
IFS= read -r want
have=$(sha256sum < "$f")
have=${have%% *}
[ "$have" = "$want" ] || { echo "$f changed while this ran (edited by hand?): run it again" >&2; exit 4; }
(umask 077; : > "$new")
chown root:root "$new"
chmod 600 "$new"
cat >> "$new"
echo "candidate $new"`

// DiscardScript removes a candidate ($1) that will not go live.
const DiscardScript = `rm -f -- "$1"`

// InstallScript puts a candidate ($1) in place of the env file ($2) in
// one rename: for a server with no release running, where no handover
// swaps it.
const InstallScript = `set -eu
chown root:root "$1"; chmod 600 "$1"
mv -f -- "$1" "$2"`

// ErrMissing is ReadScript's answer on a server with no env file.
var ErrMissing = errors.New("no env file")

// DecodeRead is the env file's text from ReadScript's output, refused
// unless it has the size the server gave.
func DecodeRead(out string) ([]byte, error) {
	head, body, _ := strings.Cut(out, "\n")
	kind, size, _ := strings.Cut(strings.TrimSpace(head), " ")
	switch kind {
	case "missing":
		return nil, ErrMissing
	case "file":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
		if err != nil {
			// remote.MaxOutput (1 MiB) cuts a base64 file over 768 KiB.
			return nil, fmt.Errorf("read the env file: %w (is it over 768 KiB? settings that large belong in files)", err)
		}
		if n, err := strconv.Atoi(size); err != nil || n != len(b) {
			return nil, fmt.Errorf("read the env file: %d bytes arrived of %s: run it again", len(b), size)
		}
		return b, nil
	}
	return nil, fmt.Errorf("read the env file: unexpected output %q", head)
}

// Sum is the sha256 PrepareScript compares with the env file's.
func Sum(text []byte) string {
	s := sha256.Sum256(text)
	return hex.EncodeToString(s[:])
}
