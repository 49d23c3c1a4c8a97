#!/usr/bin/env bash
# Builds the Debian package of segment-server and the segment CLI:
#   bash scripts/package.sh                 release build (what to ship)
#   CONFIG=debug bash scripts/package.sh    the debug build, stripped (what the tests install: a
#                                           release build takes ~17 minutes from clean on 2 cores)
# The Swift runtime and Foundation are linked statically (--static-swift-stdlib), so the binaries
# need only the C libraries that `ldd` lists; the package depends on their Debian packages, as
# `dpkg -S` names them on this machine. Contents: /usr/bin/{segment-server,segment}, the systemd
# unit (deploy/debian/segment-server.service), its settings (/etc/segment-server/segment-server.env,
# a conffile), the docs; postinst creates the `segment` user and /var/lib/segment.
# Prints the .deb's path (in .build/package/).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
case "$config" in release | debug) ;; *) echo "CONFIG must be release or debug, not '$config'" >&2; exit 2 ;; esac

# Everything compiled first as usual, so the static build below only links: SwiftPM does not
# recompile for --static-swift-stdlib, and objects compiled with it name static libraries that a
# later ordinary link (the tests') cannot find. Objects compiled the usual way name only
# Foundation's own libraries, so the static link names the libraries static Foundation needs.
# --version prints the commit and build date the manifest read; SwiftPM keeps an evaluated
# manifest until Package.swift changes, so a package of a later commit would name an earlier one.
touch Package.swift
swift build -c "$config" --product segment-server >&2
swift build -c "$config" --product segment >&2
static=(--static-swift-stdlib -Xlinker --start-group)
for library in Foundation FoundationEssentials FoundationInternationalization CoreFoundation \
  _FoundationICU _FoundationCollections _FoundationCShims; do
  static+=(-Xlinker "-l$library")
done
static+=(-Xlinker --end-group)
swift build -c "$config" "${static[@]}" --product segment-server >&2
swift build -c "$config" "${static[@]}" --product segment >&2
bin=$(swift build -c "$config" --show-bin-path)
# Modules SwiftPM compiled anew for the static link anyway (it happens) name static libraries in
# their objects: removed, so the next ordinary build compiles them again instead of failing to link.
for module in "$bin"/*.build; do
  if grep -qa -- "-l_FoundationCShims" "$module"/*.o 2>/dev/null; then rm -rf "$module"; fi
done
version=$("$bin/segment-server" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
out=.build/package
stage=$out/segment-server_${version}_$arch
rm -rf "$stage"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/segment-server" \
  "$stage/usr/share/doc/segment-server"
for tool in segment-server segment; do
  install -m 0755 "$bin/$tool" "$stage/usr/bin/$tool"
  # Debug builds carry ~200 MB of symbols each; a package is for running.
  strip --strip-unneeded "$stage/usr/bin/$tool"
  if ldd "$stage/usr/bin/$tool" | grep -q 'libswift\|libFoundation'; then
    echo "$tool still links the Swift runtime dynamically" >&2
    exit 1
  fi
done
install -m 0644 deploy/debian/segment-server.service "$stage/lib/systemd/system/"
install -m 0640 deploy/debian/segment-server.env "$stage/etc/segment-server/"
install -m 0644 README.md docs/operations.md "$stage/usr/share/doc/segment-server/"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$stage/DEBIAN/"
echo /etc/segment-server/segment-server.env > "$stage/DEBIAN/conffiles"

# Depends: the package of every shared library the binaries load (resolved on this machine).
depends=$(for tool in segment-server segment; do ldd "$stage/usr/bin/$tool"; done \
  | awk '$3 ~ /^\// {print $3}' | sort -u \
  | while read -r library; do dpkg -S "$(readlink -f "$library")" 2>/dev/null || dpkg -S "$library"; done \
  | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: segment-server
Version: $version
Architecture: $arch
Maintainer: segment-server maintainers <segment-server@localhost>
Installed-Size: $size
Depends: $depends, passwd
Section: net
Priority: optional
Homepage: https://github.com/segment-server/segment-server
Description: customer-segmentation model server (gRPC) and its CLI
 segment-server trains and hosts versioned customer-segmentation models (RFM
 features, k-means and other clusterings, named and profiled segments) over gRPC;
 segment uploads data, trains, scores, versions and reports. Runs as the systemd
 service segment-server, user segment, data in /var/lib/segment.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/" >&2
echo "$out/segment-server_${version}_$arch.deb"
