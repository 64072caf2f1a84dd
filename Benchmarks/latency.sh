#!/usr/bin/env bash
# Single-stream speed, side by side in one run: llama.cpp's llama-bench (pp512, tg128, 2 threads) and Folio on the
# same GGUF: `folio bench latency --batch-size 1` with 512 prompt tokens and 1 output token (prefill), and with
# 1 prompt token and 128 output tokens (decode). LLAMA_BENCH: a llama-bench built as BENCHMARKS.md describes.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
LLAMA_BENCH=${LLAMA_BENCH:-/tmp/folio-peers/src/llama-build/bin/llama-bench}
folio=.build/release/folio
mkdir -p Benchmarks/results
R=Benchmarks/results/latency-$(date +%Y%m%d-%H%M).txt
{
  echo "## llama-bench"; $LLAMA_BENCH -m "$MODEL" -p 512 -n 128 -t 2 -r 3 2>/dev/null | grep -E "pp512|tg128"
  echo "## folio prefill 512 (batch 1, 1 output token)"
  $folio bench latency --model "$MODEL" --input-len 512 --output-len 1 --batch-size 1 --iters 3 --json 2>/dev/null
  echo "## folio decode 128 (batch 1, 1 prompt token)"
  $folio bench latency --model "$MODEL" --input-len 1 --output-len 128 --batch-size 1 --iters 3 --json 2>/dev/null
} | tee "$R"
