#!/usr/bin/env bash
# Installs the system packages the build and tests need on a fresh Debian machine (idempotent).
set -euo pipefail
need=()
# chromium: the report test renders the HTML report headless and looks at the screenshot.
for package in zlib1g-dev libsqlite3-dev chromium; do
  dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
