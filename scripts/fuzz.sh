#!/usr/bin/env bash
# Longer fuzz runs than CI's: the seeded mutation fuzzers of the test suite (GGUF, safetensors, tokenizer.json,
# config.json, Jinja) and the HTTP request-body fuzzer, with more executions.
#   bash scripts/fuzz.sh [ITERATIONS] [SEED]      (defaults: 20000, random; each run prints its seed)
set -euo pipefail
cd "$(dirname "$0")/.."
export FOLIO_FUZZ_ITERS="${1:-20000}"
if [ -n "${2:-}" ]; then export FOLIO_FUZZ_SEED="$2"; fi
swift build -c release --build-tests
swift test -c release --skip-build --filter 'Fuzz|fuzz'
python3 -m pytest -q -s Tests/api/test_hostile.py -k fuzzed
