package envfile

// The scripts run as root with sh -c, their arguments quoted words (paths,
// names, a tag), never a value: a value comes on stdin and stays inside
// the shell's builtins (read, printf, case), which start no process whose
// command line could show it.

// stripBlanks removes the leading blanks of $t, as systemd ignores them.
const stripBlanks = `while :; do case $t in [' 	']*) t=${t#?} ;; *) break ;; esac; done`

// PrepareScript writes the candidate env file: the service's file ($1)
// with KEY ($2) set to the encoded value on stdin ($4 = set) or removed
// ($4 = unset), as .<name>.new-<tag> ($3) in the same folder, root:root
// 0600 from its first byte. The first assignment of KEY is replaced in
// place and any later one dropped (systemd lets the last one win); a new
// key goes at the end. Leftovers of changes that died go first: no
// handover runs under the deploy lock, which is held. It prints "unchanged" when the file already
// says so (one assignment with this value, or none to unset) and removes
// the candidate, else "candidate <path>".
const PrepareScript = `set -eu
f=$1 key=$2 tag=$3 mode=$4
dir=${f%/*} base=${f##*/}
new="$dir/.$base.new-$tag"
rm -f "$dir/.$base.new-"* "$f.was"
[ -f "$f" ] || { echo "no $f: run provision first" >&2; exit 3; }
val=
if [ "$mode" = set ]; then IFS= read -r val || [ -n "$val" ]; fi
(umask 077; : > "$new")
chown root:root "$new"
chmod 600 "$new"
found=0 same=
while IFS= read -r line || [ -n "$line" ]; do
  t=$line
  ` + stripBlanks + `
  case $t in
  "$key="*)
    found=$((found + 1))
    [ "$t" = "$key=$val" ] && same=1
    if [ "$found" = 1 ] && [ "$mode" = set ]; then printf '%s=%s\n' "$key" "$val"; fi ;;
  *) printf '%s\n' "$line" ;;
  esac
done < "$f" >> "$new"
if [ "$found" = 0 ] && [ "$mode" = set ]; then printf '%s=%s\n' "$key" "$val" >> "$new"; fi
# Unchanged: the one assignment already has the value, or there is none to unset.
if { [ "$mode" = set ] && [ "$found" = 1 ] && [ -n "$same" ]; } || { [ "$mode" = unset ] && [ "$found" = 0 ]; }; then
  rm -f "$new"; echo unchanged; exit 0
fi
echo "candidate $new"`

// DiscardScript removes a candidate ($1) that will not go live.
const DiscardScript = `rm -f -- "$1"`

// InstallScript puts a candidate ($1) in place of the env file ($2) in
// one rename: for a server with no release running, where no handover
// swaps it.
const InstallScript = `set -eu
chown root:root "$1"; chmod 600 "$1"
mv -f -- "$1" "$2"`

// NamesScript prints "set NAME" or "empty NAME" for each assignment in the
// env file ($1), in file order; "missing" when there is no file.
const NamesScript = `f=$1
[ -f "$f" ] || { echo missing; exit 0; }
sed -n -e 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)=[[:space:]]*$/empty \1/p' -e 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)=.*/set \1/p' "$f"`

// ValuesScript prints each assignment of the env file ($1) as written
// (env:list -values, on a terminal after confirmation only).
const ValuesScript = `sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*=\)/\1/p' "$1"`

// HashScript prints "NAME <sha256>" for each assignment of the env file
// ($1): the hash of a nonce (stdin's first line, the same for every host
// of one env:diff) and the value as written. Hosts compare by hash; the
// nonce keeps a hash from telling a short value by a lookup table.
const HashScript = `f=$1
IFS= read -r nonce
[ -f "$f" ] || { echo missing; exit 0; }
while IFS= read -r line || [ -n "$line" ]; do
  t=$line
  ` + stripBlanks + `
  case $t in [A-Za-z_]*=*) ;; *) continue ;; esac
  name=${t%%=*}
  case $name in *[!A-Za-z0-9_]*) continue ;; esac
  printf '%s %s\n' "$name" "$(printf '%s\n%s' "$nonce" "${t#*=}" | sha256sum | cut -d' ' -f1)"
done < "$f"`
