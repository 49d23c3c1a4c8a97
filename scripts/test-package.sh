#!/usr/bin/env bash
# The Debian package as an operator meets it: built by scripts/package.sh (CONFIG=debug unless
# set), installed with apt into a clean Debian root made by debootstrap (minbase, this machine's
# release), and checked there: the `segment` user, /var/lib/segment and the settings' owners and
# modes, the unit accepted by `systemd-analyze verify`; then the server started as the unit starts
# it (its user, its EnvironmentFile, its ExecStart; no systemd runs in a chroot) answers health,
# trains and scores with the packaged CLI, drains on SIGTERM; removal keeps the data and purge
# the settings. Last, the OCI image (scripts/image.sh) is built from that root with buildah and
# its entrypoint run (see docs/operations.md#packages for what this machine allows).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh > /dev/null  # debootstrap and buildah
build_log=$(mktemp)
deb=$(CONFIG=${CONFIG:-debug} bash scripts/package.sh 2> "$build_log") || { tail -n 30 "$build_log"; exit 1; }
rm -f "$build_log"
root=$(mktemp -d "$PWD/.build/package/root.XXXXXX")
chmod 0755 "$root"  # the root's /: mktemp makes it 0700, which the segment user could not enter
server=""
finish() {
  local status=$?
  if [ -n "$server" ]; then kill -KILL "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
  [ "$status" -ne 0 ] && [ -f "$root/tmp/server.log" ] && { echo "--- the server's log"; tail -n 20 "$root/tmp/server.log"; }
  # Never delete through a mounted /proc.
  if mountpoint -q "$root/proc"; then umount "$root/proc" 2>/dev/null || umount -l "$root/proc"; fi
  mountpoint -q "$root/proc" || rm -rf "$root"
}
trap finish EXIT
in_root() { chroot "$root" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }

release=$(. /etc/os-release && echo "$VERSION_CODENAME")
echo "== package: debootstrap $release (minbase) into $root"
debootstrap --variant=minbase "$release" "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$root.debootstrap.log" 2>&1 \
  || { tail -n 20 "$root.debootstrap.log"; fail "debootstrap"; }
rm -f "$root.debootstrap.log"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A system has /proc; without it a static Swift binary sees no arguments (CommandLine reads them there).
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/"
in_root apt-get install -y -qq "/tmp/$(basename "$deb")" > "$root/tmp/install.log" 2>&1 || { cat "$root/tmp/install.log"; fail "apt-get install"; }
echo "ok: $(basename "$deb") ($(du -h "$deb" | cut -f1)) installed with its dependencies: $(dpkg-deb -f "$deb" Depends)"

# What the package set up.
[ "$(in_root getent passwd segment | cut -d: -f7)" = /usr/sbin/nologin ] || fail "no system user 'segment' with nologin"
# Owners as the root's own user database names them (stat inside it).
[ "$(in_root stat -c '%U:%G %a' /var/lib/segment)" = "segment:segment 750" ] || fail "/var/lib/segment: $(in_root stat -c '%U:%G %a' /var/lib/segment)"
[ "$(in_root stat -c '%U:%G %a' /etc/segment-server/segment-server.env)" = "root:segment 640" ] || fail "the settings' owner or mode"
grep -qx /etc/segment-server/segment-server.env "$root/var/lib/dpkg/info/segment-server.conffiles" || fail "the settings are not a conffile"
if ldd "$root/usr/bin/segment-server" | grep -q 'libswift\|libFoundation'; then fail "the Swift runtime is not linked statically"; fi
# The unit checked against systemd's own units, as on a system that boots with it.
in_root apt-get install -y -qq --no-install-recommends systemd > "$root/tmp/systemd.log" 2>&1 || { cat "$root/tmp/systemd.log"; fail "apt-get install systemd"; }
verify=$(systemd-analyze verify --root="$root" /lib/systemd/system/segment-server.service 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
echo "ok: user segment (nologin), /var/lib/segment segment:segment 0750, settings root:segment 0640 (a conffile), the unit verifies, no Swift runtime needed"
version=$(in_root /usr/bin/segment-server --version)
echo "$version"
commit=$(git rev-parse --short=12 HEAD)
case "$version" in *"commit $commit"*) ;; *) fail "--version does not name this commit ($commit): $version" ;; esac
in_root /usr/bin/segment --version > /dev/null

# The server as the unit starts it: its user, its environment file, its command; a free port.
unit=$root/lib/systemd/system/segment-server.service
user=$(sed -n 's/^User=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
mapfile -t settings < <(grep -E '^[A-Z_]+=' "$root/etc/segment-server/segment-server.env")
chroot --userspec="$user:$user" "$root" env -i "${settings[@]}" SEGMENT_PORT=0 SEGMENT_METRICS_PORT=0 $exec_start \
  > "$root/tmp/server.log" 2>&1 &
server=$!
address=""
for _ in $(seq 1 150); do
  address=$(grep -o '"address":"[0-9.]*:[0-9]*"' "$root/tmp/server.log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$address" ] && grep -q '"serving' "$root/tmp/server.log" && break
  kill -0 "$server" 2>/dev/null || fail "the server exited: $(tail -n 5 "$root/tmp/server.log")"
  sleep 0.2
done
[ -n "$address" ] || fail "the server did not start"
export SEGMENT_SERVER=$address
in_root /usr/bin/segment health | grep -q SERVING || fail "health"
in_root /usr/bin/segment generate-sample --customers 300 --seed 5 --file /tmp/tx.csv > /dev/null
in_root /usr/bin/segment train --model shop --k 3 --wait /tmp/tx.csv > "$root/tmp/train.log" 2>&1 || { cat "$root/tmp/train.log"; fail "train"; }
in_root /usr/bin/segment score --model shop /tmp/tx.csv --output csv > "$root/tmp/scores.csv" 2> "$root/tmp/score.log" || { cat "$root/tmp/score.log"; fail "score"; }
[ "$(($(wc -l < "$root/tmp/scores.csv") - 1))" -eq 300 ] || fail "scored $(($(wc -l < "$root/tmp/scores.csv") - 1)) customers, not 300"
[ "$(in_root find /var/lib/segment -user segment -name '*.sqlite*' | wc -l)" -ge 1 ] || fail "no registry owned by segment in /var/lib/segment"
echo "ok: the packaged server, started as its unit does (user $user, $address), answers health, trains and scores 300 customers"
kill -TERM "$server"
for _ in $(seq 1 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server" 2>/dev/null && fail "the server did not stop within 30 s of SIGTERM"
wait "$server" || fail "the server exited with status $? on SIGTERM"
server=""
echo "ok: SIGTERM: drained and exited 0"

# The image, from this root (the package installed), before removal.
bash scripts/image.sh "$root"

in_root dpkg -r segment-server > /dev/null
[ ! -e "$root/usr/bin/segment-server" ] && [ -d "$root/var/lib/segment" ] && [ -f "$root/etc/segment-server/segment-server.env" ] \
  || fail "remove: the binaries must go, the data and settings stay"
in_root dpkg -P segment-server > /dev/null 2>&1
[ ! -e "$root/etc/segment-server" ] && [ -n "$(ls "$root/var/lib/segment")" ] || fail "purge: the settings must go, the data stay"
echo "ok: remove keeps data and settings, purge removes the settings and keeps the data"
echo "package: all checks passed"
