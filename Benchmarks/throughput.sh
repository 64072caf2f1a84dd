#!/usr/bin/env bash
# Offline throughput, side by side, in one run: folio bench throughput (default engine and --max-num-seqs 1) and
# Hugging Face transformers generate on the same GGUF and workload (64 prompts x 128 random tokens, 64 out).
# Needs: a release build of folio, the peers venv (../shared/peers/run_peers.sh install). Writes
# Benchmarks/results/throughput-DATE.jsonl and prints the lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
PY=${PY:-/tmp/folio-peers/venv/bin/python}
N=${N:-64}; IN=${IN:-128}; OUT=${OUT:-64}
mkdir -p Benchmarks/results
R=Benchmarks/results/throughput-$(date +%Y%m%d-%H%M).jsonl
folio=.build/release/folio
run() { echo "{\"run\": \"$1\", \"result\": $2}" | tee -a "$R"; }
run folio "$($folio bench throughput --model "$MODEL" --num-prompts "$N" --input-len "$IN" --output-len "$OUT" --json 2>/dev/null)"
run folio-max-num-seqs-1 "$($folio bench throughput --model "$MODEL" --num-prompts "$N" --input-len "$IN" --output-len "$OUT" --max-num-seqs 1 --json 2>/dev/null)"
run transformers-fp32 "$($PY Benchmarks/hf_throughput.py "$MODEL" --num-prompts "$N" --input-len "$IN" --output-len "$OUT" 2>/dev/null | tail -1)"
echo "wrote $R"
