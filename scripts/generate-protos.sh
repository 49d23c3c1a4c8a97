#!/usr/bin/env bash
# Regenerates Sources/SegmentationAPI from Protos/ with protoc and the Swift plugins.
# The plugins are built once (release, a few minutes) in .build-protoc-plugins/ from the mirrored
# packages; protoc comes from Debian's protobuf-compiler. Re-running must leave no diff.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v protoc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
fi

plugins="$root/.build-protoc-plugins"
mkdir -p "$plugins"
cat > "$plugins/Package.swift" <<'SWIFT'
// swift-tools-version:6.1
import PackageDescription
let package = Package(
    name: "ProtocPlugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ]
)
SWIFT
(cd "$plugins" && swift build -c release --product protoc-gen-swift >/dev/null \
  && swift build -c release --product protoc-gen-grpc-swift-2 >/dev/null)
bin=$(cd "$plugins" && swift build -c release --show-bin-path)

out="$root/Sources/SegmentationAPI"
find "$out" -name '*.pb.swift' -delete
cd "$root/Protos"
protos=$(find . -name '*.proto' | sed 's|^\./||' | sort)
protoc \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility=Public,FileNaming=PathToUnderscores \
  $protos
echo "generated: $(ls "$out" | tr '\n' ' ')"
