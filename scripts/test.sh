#!/usr/bin/env bash
# Folio's whole test suite, as CI runs it: fetch the real models, every Swift test in release mode (real models
# run ~50x slower in debug builds), then the OpenAI API tests: `folio serve` driven by the official `openai` client.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-models.sh models --all
swift build -c release --build-tests
swift test -c release --skip-build
python3 -m pip install -q "openai>=1.40" pytest 2>&1 | grep -v "already satisfied" || true
python3 -m pytest -q Tests/api
