#!/usr/bin/env bash
# Online serving, side by side in one run: `folio bench serve` (64 prompts of 128 random token ids, 64 out, max
# concurrency 16, streaming) against `folio serve` and against llama.cpp's server (llama-server as embedded in the
# xllamacpp wheel, 16 slots, 2 threads, continuous batching) on the same GGUF. Needs a release build of folio and
# the peers venv with xllamacpp (`/tmp/folio-peers/venv/bin/pip install xllamacpp`).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
PY=${PY:-/tmp/folio-peers/venv/bin/python}
N=${N:-64}; IN=${IN:-128}; OUT=${OUT:-64}; C=${C:-16}
folio=.build/release/folio
mkdir -p Benchmarks/results
R=Benchmarks/results/serve-$(date +%Y%m%d-%H%M).txt
wait_up() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
bench() { $folio bench serve --base-url "http://127.0.0.1:$1" --model "$2" --num-prompts "$N" --input-len "$IN" --output-len "$OUT" --max-concurrency "$C"; }

$folio serve --model "$MODEL" --served-model-name smol --port 8301 > /tmp/folio-serve-bench.log 2>&1 &
FP=$!; wait_up 8301
{ echo "## folio serve ($(git rev-parse --short HEAD))"; bench 8301 smol; } | tee -a "$R"
kill -TERM $FP; wait $FP || true

$PY ../shared/peers/serve_xllamacpp.py "$MODEL" 8302 "$C" 2 > /tmp/llama-serve-bench.log 2>&1 &
LP=$!; wait_up 8302
{ echo "## llama.cpp server (xllamacpp $($PY -c 'import xllamacpp; print(xllamacpp.__version__)'), $C slots, 2 threads)"; bench 8302 smol; } | tee -a "$R"
kill $LP; wait $LP 2>/dev/null || true
echo "wrote $R"
