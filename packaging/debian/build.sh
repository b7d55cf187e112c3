#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, then checks it: the listed contents (`dpkg-deb -c`),
# and the binary extracted from it (`dpkg-deb -x`) answering --version, reading the packaged
# config, and serving /healthz from a temp data dir.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

# Wherever cargo builds (CARGO_TARGET_DIR): cargo-deb reads the assets named `target/release/…`
# in Cargo.toml from that directory's release/.
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked
built="$target/release"
generated="$built/package"
rm -rf "$generated"
mkdir -p "$generated/man" "$generated/completions"
# A man page per command (whoot-mgmt-tenant-create.1…), and completions for three shells.
"$built/whoot-mgmt" manpage --dir "$generated/man"
gzip -9n "$generated"/man/*.1
"$built/whoot-mgmt" openapi > "$generated/openapi.json"
"$built/whoot-mgmt" completions bash > "$generated/completions/whoot-mgmt"
"$built/whoot-mgmt" completions zsh > "$generated/completions/_whoot-mgmt"
"$built/whoot-mgmt" completions fish > "$generated/completions/whoot-mgmt.fish"
rm -rf "$target/debian"
# Debug line tables stay in the build for profiling; the package gets a stripped binary.
cargo deb --no-build --locked --strip
deb="$(ls "$target"/debian/whoot-mgmt_*.deb)"
echo "built $deb"

# lintian, Debian's package checker: no warnings or errors (its overrides ship in the package).
if ! command -v lintian >/dev/null && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends lintian >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends lintian >/dev/null; }
fi
lintian --fail-on warning,error "$deb"

contents="$(dpkg-deb -c "$deb")"
echo "$contents"
for path in ./usr/bin/whoot-mgmt ./etc/whoot-mgmt/config.toml \
    ./usr/share/doc/whoot-mgmt/config.example.toml ./usr/share/doc/whoot-mgmt/README.md \
    ./usr/share/doc/whoot-mgmt/docs/operating.md ./usr/share/doc/whoot-mgmt/docs/design/store-log.md \
    ./usr/share/man/man1/whoot-mgmt.1.gz ./usr/share/man/man1/whoot-mgmt-key-create.1.gz \
    ./usr/share/bash-completion/completions/whoot-mgmt ./usr/share/zsh/vendor-completions/_whoot-mgmt \
    ./usr/share/fish/vendor_completions.d/whoot-mgmt.fish \
    ./usr/share/doc/whoot-mgmt/changelog.Debian.gz ./usr/lib/systemd/system/whoot-mgmt.service \
    ./usr/share/whoot-mgmt/alerts.yml ./usr/share/whoot-mgmt/grafana-dashboard.json \
    ./usr/share/whoot-mgmt/openapi.json ./usr/share/doc/whoot-mgmt/examples/haproxy.cfg; do
  grep -qF " $path" <<<"$contents" || { echo "missing from the package: $path" >&2; exit 1; }
done
# Nothing secret and no state ships in the package.
if grep -qE 'initial-api-key|\.redb' <<<"$contents"; then
  echo "the package holds state or secrets" >&2; exit 1
fi
dpkg-deb -I "$deb" conffiles | grep -qx /etc/whoot-mgmt/config.toml \
  || { echo "/etc/whoot-mgmt/config.toml is not a conffile" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
bin="$tmp/root/usr/bin/whoot-mgmt"
"$bin" --version
"$bin" config show --config "$tmp/root/etc/whoot-mgmt/config.toml" >/dev/null
cmp <("$bin" config example --packaged) "$tmp/root/etc/whoot-mgmt/config.toml"
# The shipped OpenAPI document is the one the packaged binary serves.
cmp <("$bin" openapi) "$tmp/root/usr/share/whoot-mgmt/openapi.json"
grep -q '^ExecStart=/usr/bin/whoot-mgmt serve --config /etc/whoot-mgmt/config.toml$' \
  "$tmp/root/usr/lib/systemd/system/whoot-mgmt.service"
grep -q '^Documentation=man:whoot-mgmt(1)' "$tmp/root/usr/lib/systemd/system/whoot-mgmt.service"
# The installed config names the service's data directory (admin commands read it by default).
"$bin" config show --config "$tmp/root/etc/whoot-mgmt/config.toml" | grep -q '/var/lib/whoot-mgmt' \
  || { echo "the packaged config does not name /var/lib/whoot-mgmt" >&2; exit 1; }

"$bin" serve --config "$tmp/root/etc/whoot-mgmt/config.toml" --data-dir "$tmp/data" \
  --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  addr="$(sed -n 's|^listening on http://||p' "$tmp/out")"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/err" >&2; echo "the packaged binary did not start" >&2; exit 1; }
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
head -1 <&3 | grep -q ' 200 ' || { echo "/healthz did not answer 200" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid"
echo "package OK: $deb ($(stat -c %s "$deb") bytes)"
