#!/usr/bin/env bash
# Installs the system packages the build and tests need on a fresh Debian machine (idempotent).
set -euo pipefail
need=()
# chromium: the report test renders the HTML report headless and looks at the screenshot.
# protobuf-c, nghttp2, gcc and make: the C client (examples/c) the client tests build.
# gdb: backtraces of a test run that hangs (scripts/bounded.sh).
# postgresql and nginx: the shared registry's tests and the local cluster (scripts/postgres.sh,
# deploy/local-cluster.sh start and stop their own, on loopback).
# debootstrap and buildah: the Debian package installed into a clean root, and the OCI image built
# from it (scripts/test-package.sh, scripts/image.sh).
for package in zlib1g-dev libsqlite3-dev chromium libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev gcc make gdb postgresql nginx debootstrap buildah; do
  dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The project's Python tools, in bench/.venv (PyPI, pinned): the benchmark peers (scikit-learn,
# pandas, grpcio) and the reflection test's client (grpcio-reflection).
if ! dpkg -s python3-venv >/dev/null 2>&1 && ! python3 -c "import ensurepip" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
cd "$(dirname "$0")/.."
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/python -c "import sklearn, pandas, grpc, grpc_tools, grpc_reflection" 2>/dev/null \
  || bench/.venv/bin/pip install -q scikit-learn==1.9.1 pandas==3.1.1 grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-reflection==1.85.1

# The customer-value peer, lifetimes 0.11.3, needs an older numpy, scipy and pandas than the
# tools above: a venv of its own, bench/.venv-lifetimes (pinned; the tests that compare with it
# skip, saying so, when it is absent).
if [ ! -x bench/.venv-lifetimes/bin/python ]; then python3 -m venv bench/.venv-lifetimes; fi
bench/.venv-lifetimes/bin/python -c "import lifetimes" 2>/dev/null \
  || bench/.venv-lifetimes/bin/pip install -q lifetimes==0.11.3 autograd==1.9.1 numpy==1.26.4 \
    scipy==1.12.0 pandas==2.1.4

# deploy/'s checks (scripts/test-deploy.sh): the Kubernetes manifests' validator and Prometheus'
# own parser of the text format.
bench/.venv/bin/python -c "import kubernetes_validate, prometheus_client, yaml" 2>/dev/null \
  || bench/.venv/bin/pip install -q kubernetes-validate==1.37.0 prometheus-client==0.26.0 PyYAML==6.0.4
# The HTTP gateway's fuzzer (scripts/test-gateway.sh), from its OpenAPI document.
[ -x bench/.venv/bin/schemathesis ] || bench/.venv/bin/pip install -q schemathesis==4.32.5
# The tracing test's stand-in collector (scripts/otlp-collector.py): OpenTelemetry's own messages.
bench/.venv/bin/python -c "import opentelemetry.proto" 2>/dev/null \
  || bench/.venv/bin/pip install -q opentelemetry-proto==1.45.2
