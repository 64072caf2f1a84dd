#!/usr/bin/env bash
# Long context, side by side (issue "Long context"): llama.cpp's llama-bench vs folio bench latency on the same GGUF,
# 2 threads, per KV cache type.
#   prefill of N tokens:  llama-bench -p N -n 0            vs  N / p50(time to first token of N prompt tokens)
#   decode at depth N:    llama-bench -p 0 -n 64 -d N      vs  p50(64 tokens / time from the first token to the 65th)
#   (folio bench latency --input-len N --output-len 65 --json: p50_ttft_s, p50_decode_tok_s)
#   llama.cpp KV: LLAMA_KV (default "f16 q8_0": its default and -ctk q8_0 -ctv q8_0); Folio KV: FOLIO_KV (default
#   "float16 int8 fp8").
#   bound at depth: read bandwidth (Benchmarks/membw.c, 2 threads) / (weight bytes + K/V bytes of N positions).
# Writes Benchmarks/results/long-DATE.jsonl and prints a Markdown table. DEPTHS (default 4096), REPS (default 3),
# MODEL (default SmolLM2-135M-Instruct Q4_1); LLAMA_FROM=FILE.jsonl reuses an earlier run's llama.cpp rows (same
# machine, minutes apart). Needs a release build and the peers' llama.cpp (see cpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/tmp/folio-peers}
BIN=${LLAMA_BIN:-$PEERS/src/llama-build/bin}
REPS=${REPS:-3}
DEPTHS=${DEPTHS:-4096}
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
FOLIO_KV=${FOLIO_KV:-"float16 int8 fp8"}
LLAMA_KV=${LLAMA_KV:-"f16 q8_0"}
folio=.build/release/folio
mkdir -p Benchmarks/results
R=Benchmarks/results/long-$(date +%Y%m%d-%H%M).jsonl
: > "$R"
rec() { echo "$1" | tee -a "$R" >&2; }
lat() { $folio bench latency --model "$MODEL" --input-len "$1" --output-len "$2" --batch-size 1 --iters "$REPS" --warmup-iters 0 \
          --max-model-len $(($1 + 128)) --kv-cache-dtype "$3" --json 2>/dev/null | tail -1; }
cc -O2 -march=native -pthread Benchmarks/membw.c -o .build/membw
rec "{\"machine\": true, \"membw\": $(.build/membw 2 2048 7)}"
for n in $DEPTHS; do
  if [ -n "${LLAMA_FROM:-}" ]; then grep "\"depth\": $n, \"engine\": \"llama.cpp\"" "$LLAMA_FROM" | while read -r l; do rec "$l"; done; fi
  for kv in $([ -n "${LLAMA_FROM:-}" ] || echo $LLAMA_KV); do
    rec "{\"depth\": $n, \"engine\": \"llama.cpp\", \"kv\": \"$kv\", \"prefill\": [$($BIN/llama-bench -m "$MODEL" -t 2 -r "$REPS" -p "$n" -n 0 -ctk $kv -ctv $kv -o jsonl 2>/dev/null | paste -sd,)], \"decode\": [$($BIN/llama-bench -m "$MODEL" -t 2 -r "$REPS" -p 0 -n 64 -d "$n" -ctk $kv -ctv $kv -o jsonl 2>/dev/null | paste -sd,)]}"
  done
  for kv in $FOLIO_KV; do
    rec "{\"depth\": $n, \"engine\": \"folio\", \"kv\": \"$kv\", \"in65\": $(lat "$n" 65 "$kv")}"
  done
done
python3 - "$R" "$MODEL" <<'EOF'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bw = rows[0]["membw"]["read_gb_s"]
weights = os.path.getsize(sys.argv[2])
# SmolLM2-135M: 30 layers x 3 KV heads x 64 dims, K and V.
kv_elems = 2 * 30 * 192
size = {"f16": 2, "q8_0": 34 / 32, "float16": 2, "bfloat16": 2, "float32": 4, "int8": 1 + 4 / 64, "fp8": 1 + 4 / 64}
print("| depth | engine | KV | prefill tok/s | decode tok/s at depth | decode bound | % of bound |")
print("|---|---|---|---|---|---|---|")
base = {}
for r in rows[1:]:
    n = r["depth"]
    if r["engine"] == "llama.cpp":
        pf = statistics.median(r["prefill"][0]["samples_ts"]); dc = statistics.median(r["decode"][0]["samples_ts"])
        base[(n, r["kv"])] = (pf, dc)
    else:
        pf = n / r["in65"]["p50_ttft_s"]; dc = r["in65"]["p50_decode_tok_s"]
    bound = bw * 1e9 / (weights + n * kv_elems * size[r["kv"]])
    ratio = ""
    if r["engine"] == "folio":
        ref = base.get((n, "q8_0" if r["kv"] in ("int8", "fp8") else "f16"))
        if ref: ratio = " (%.2fx / %.2fx llama.cpp %s)" % (pf / ref[0], dc / ref[1], "q8_0" if r["kv"] in ("int8", "fp8") else "f16")
    print(f"| {n} | {r['engine']} | {r['kv']} | {pf:.1f} | {dc:.1f}{ratio} | {bound:.1f} | {100 * dc / bound:.0f}% |")
EOF
