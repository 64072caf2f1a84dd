#!/usr/bin/env bash
# Folio's whole test suite, as CI runs it: fetch the real models, every Swift test in release mode (real models
# run ~50x slower in debug builds), then the OpenAI API tests: `folio serve` driven by the official `openai` client,
# and its chat page driven in headless Chromium (Selenium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-models.sh models --all
swift build -c release --build-tests
swift test -c release --skip-build
# vllm-router and kubernetes-validate: the scale-out tests (replicas behind the router; deploy/'s manifests).
python3 -m pip install -q "openai>=1.40" pytest selenium jsonschema prometheus_client pyyaml kubernetes-validate vllm-router==0.1.17 2>&1 | grep -v "already satisfied" || true
# The chat page's browser test drives Debian's headless Chromium (it reports itself skipped where none can be installed).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
        || echo "note: could not install chromium and chromium-driver; the browser tests will be skipped"
fi
# Tensor parallelism's tests run the binary under Open MPI's mpirun (they report themselves skipped without it).
if ! command -v mpirun >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin; } >/dev/null 2>&1 \
        || echo "note: could not install openmpi-bin; the tensor-parallel tests will be skipped"
fi
python3 -m pytest -q Tests/api
