# Puts an uploaded slipway-helper in place, as root. Named variables, set by
# the client before this text: src (the upload, relative to the SSH user's
# home), sum (its expected SHA-256), dir (where helpers live).
set -eu
: "${src:?}" "${sum:?}" "${dir:?}"
home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
case $src in /*) ;; *) src="$home/$src" ;; esac
got=$(sha256sum "$src" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then
  rm -f "$src"
  echo "slipway-helper upload: SHA-256 $got, want $sum: upload again" >&2
  exit 1
fi
install -d -m 755 -o root -g root "$dir"
install -m 755 -o root -g root "$src" "$dir/.slipway-helper-$sum.tmp"
mv -f "$dir/.slipway-helper-$sum.tmp" "$dir/slipway-helper-$sum"
rm -f "$src"
