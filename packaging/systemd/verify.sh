#!/usr/bin/env bash
# Verifies the systemd unit: `systemd-analyze verify` (with ExecStart pointed at the binary just
# built, since /usr/bin/whoot-mgmt exists only once the package is installed; its man pages too) and the offline
# security score, which must be "OK" or better (exposure below 5.0).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(pwd)/${1:-target/debug/whoot-mgmt}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/bin/whoot-mgmt|$bin|" packaging/systemd/whoot-mgmt.service > "$tmp/whoot-mgmt.service"
# The unit's Documentation= names man pages; verify looks them up, so give it the ones this
# binary writes (the package installs the same).
mkdir -p "$tmp/man/man1"
"$bin" manpage --dir "$tmp/man/man1"
if command -v man >/dev/null; then
  MANPATH="$tmp/man" systemd-analyze verify "$tmp/whoot-mgmt.service"
else
  echo "warning: no man command here; verifying the unit without its Documentation= pages" >&2
  systemd-analyze verify --man=no "$tmp/whoot-mgmt.service"
fi
score="$(systemd-analyze security --offline=true "$tmp/whoot-mgmt.service" | tail -1)"
echo "$score"
exposure="$(echo "$score" | grep -oE '[0-9]+\.[0-9]+' | head -1)"
awk -v e="$exposure" 'BEGIN { exit !(e < 5.0) }' || { echo "exposure $exposure is not OK or better"; exit 1; }
