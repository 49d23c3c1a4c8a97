#!/usr/bin/env bash
# The OCI image of segment-server, built without pulling anything: the files of a Debian root with
# the package installed (scripts/test-package.sh makes one: debootstrap, then apt-get install of
# the .deb), put into an image from scratch by buildah (Debian's package), committed as an OCI
# archive in .build/package/. Then the image is started the way this machine allows (no container
# engine runs here: `buildah run --isolation chroot` on the image's entrypoint) and health-checked.
#   bash scripts/image.sh ROOT
# The image: user segment, entrypoint /usr/bin/segment-server, SEGMENT_HOST=0.0.0.0, ports 50051
# (gRPC) and 9464 (metrics), volume /var/lib/segment, JSON logs. Beyond loopback the server needs
# SEGMENT_AUTH_TOKENS (a mounted tokens file) or SEGMENT_INSECURE=1: run it with one, e.g.
#   podman load -i .build/package/segment-server-VERSION.oci.tar
#   podman run -p 50051:50051 -v /srv/tokens:/etc/segment/tokens:ro \
#     -e SEGMENT_AUTH_TOKENS=/etc/segment/tokens segment-server:VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: image.sh ROOT (a Debian root with the segment-server package installed)}
export STORAGE_DRIVER=vfs  # works wherever this runs: no overlay mounts needed
version=$(chroot "$root" /usr/bin/segment-server --version | awk '{print $2}')
archive=.build/package/segment-server-$version.oci.tar
image=localhost/segment-server:$version
containers=()
server=""
finish() {
  if [ -n "$server" ]; then
    # SIGTERM reaches the server through buildah (SIGKILL would leave it running); then SIGKILL.
    kill -TERM "$server" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null
  fi
  for c in "${containers[@]}"; do buildah rm "$c" > /dev/null 2>&1 || true; done
}
trap finish EXIT

container=$(buildah from scratch)
containers+=("$container")
mount=$(buildah mount "$container")
# The root without what a running system or the tests left: caches, package lists, temporary files.
tar -C "$root" --exclude=./proc/* --exclude=./tmp/* --exclude=./var/tmp/* --exclude=./var/lib/apt/lists/* \
  --exclude=./var/cache/apt/* --exclude=./var/cache/debconf/*-old --exclude=./var/log/* \
  --exclude=./var/lib/segment/* -cf - . | tar -C "$mount" -xf -
buildah umount "$container" > /dev/null
buildah config --user segment --workingdir /var/lib/segment \
  --entrypoint '["/usr/bin/segment-server"]' --cmd '' \
  --env SEGMENT_HOST=0.0.0.0 --env SEGMENT_PORT=50051 --env SEGMENT_METRICS_PORT=9464 \
  --env SEGMENT_DATA_DIR=/var/lib/segment --env SEGMENT_LOG_FORMAT=json \
  --port 50051 --port 9464 --volume /var/lib/segment --stop-signal SIGTERM \
  --label org.opencontainers.image.title=segment-server \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  "$container"
buildah commit --quiet --format oci --rm "$container" "$image" > /dev/null
containers=()
rm -f "$archive"
buildah push --quiet "$image" "oci-archive:$archive:segment-server:$version"
echo "ok: image $image: $(du -h "$archive" | cut -f1) OCI archive $archive"

# Started from the archive, as a container engine would: the image's entrypoint, user and
# environment; loopback and a free port, since this is a test.
run=$(buildah from --quiet "oci-archive:$archive")
containers+=("$run")
entrypoint=$(buildah inspect --format '{{index .OCIv1.Config.Entrypoint 0}}' "$run")
user=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$run")
log=$(mktemp)
buildah run --isolation chroot --network host --user "$user" --env SEGMENT_HOST=127.0.0.1 --env SEGMENT_PORT=0 \
  --env SEGMENT_METRICS_PORT=0 "$run" -- "$entrypoint" > "$log" 2>&1 &
server=$!
address=""
for _ in $(seq 1 150); do
  address=$(grep -o '"address":"[0-9.]*:[0-9]*"' "$log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$address" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$address" ]; then
  echo "FAILED: the image's server did not start:"; cat "$log"; exit 1
fi
SEGMENT_SERVER=$address chroot "$root" /usr/bin/segment health | grep -q SERVING || { echo "FAILED: health"; cat "$log"; exit 1; }
echo "ok: the image's entrypoint ($entrypoint as $user) serves on $address and answers SERVING"
kill -TERM "$server"
wait "$server" || true
server=""
rm -f "$log"
