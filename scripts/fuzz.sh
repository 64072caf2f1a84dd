#!/usr/bin/env bash
# Longer fuzz runs than CI's: the seeded mutation fuzzers of the test suite (GGUF, safetensors, tokenizer.json,
# config.json, Jinja) and the HTTP fuzzers (request bodies, raw requests), with more executions.
#   bash scripts/fuzz.sh [ITERATIONS] [SEED]           (defaults: 20000, random; each run prints its seed)
#   FOLIO_ASAN=1 bash scripts/fuzz.sh [ITERATIONS]      the Swift fuzzers and the engine tests under AddressSanitizer
#                                                       (and LeakSanitizer), built in .build-asan
set -euo pipefail
cd "$(dirname "$0")/.."
export FOLIO_FUZZ_ITERS="${1:-20000}"
if [ -n "${2:-}" ]; then export FOLIO_FUZZ_SEED="$2"; fi
if [ "${FOLIO_ASAN:-0}" = 1 ]; then
    swift build -c release --build-tests --sanitize=address --scratch-path .build-asan
    swift test -c release --skip-build --sanitize=address --scratch-path .build-asan \
        --filter 'Fuzz|fuzz|Malformed|Hostile|TemplateSafety|AsyncEngine|EngineTests'
    exit
fi
swift build -c release --build-tests
swift test -c release --skip-build --filter 'Fuzz|fuzz'
python3 -m pytest -q -s Tests/api/test_hostile.py -k fuzzed
