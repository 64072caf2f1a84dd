#!/usr/bin/env bash
# Folio's whole test suite, as CI runs it: fetch the real models, then every test in release mode
# (real models run ~50x slower in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-models.sh models --all
swift build -c release --build-tests
swift test -c release --skip-build
