#!/usr/bin/env bash
# Two folio binaries side by side (a change that must not slow the hot path): alternating runs of
# `folio bench latency` (512-token prefill, 128-token decode, batch 1), ROUNDS rounds, on each MODELS file.
# usage: bash Benchmarks/ab_latency.sh BEFORE_BINARY AFTER_BINARY > results.jsonl
#        (ROUNDS=5, MODELS="models/smollm2-135m-instruct-q4_1.gguf models/gemma-3-270m-q4_k_m.gguf" by default)
set -euo pipefail
a=$1 b=$2
ROUNDS=${ROUNDS:-5}
MODELS=${MODELS:-"models/smollm2-135m-instruct-q4_1.gguf models/gemma-3-270m-q4_k_m.gguf"}
lat() { "$1" bench latency --model "$2" --input-len "$3" --output-len "$4" --batch-size 1 --iters 2 --json 2>/dev/null; }
for round in $(seq "$ROUNDS"); do
  for bin in "$a" "$b"; do
    for m in $MODELS; do
      echo "{\"round\": $round, \"bin\": \"$bin\", \"model\": \"$(basename "$m" .gguf)\", \"prefill\": $(lat "$bin" "$m" 512 1), \"decode\": $(lat "$bin" "$m" 1 128)}"
    done
  done
done
