#!/usr/bin/env bash
# Multi-LoRA throughput (issue 16): `folio bench throughput`, 32 requests at once (128 prompt + 64 output tokens,
# random token ids, greedy, EOS ignored), over 1, 4 and 16 distinct adapters of rank 8 and 64 (request i on adapter
# i mod K; every q/k/v/o/gate/up/down projection adapted; nonzero random lora_B) against the base model alone, same
# tokens. The configurations run interleaved RUNS times; the summary gives each one's median tokens/s and the median
# of its ratios to the base run of the same round.
#   env: RUNS (3), DTYPES ("float32 float16"), OUT (Benchmarks/results/lora-<date>.jsonl)
# Needs the SmolLM2 GGUF (scripts/fetch-models.sh) and the adapters Benchmarks/lora/make_adapters.py writes
# (peers' venv with peft): ADAPTERS=/tmp/lora (smollm2-r8, smollm2-r64) from a float32 conversion of the GGUF
# (../shared/peers/gguf_to_hf.py models/smollm2-135m-instruct-q4_1.gguf /tmp/lora/smollm2-f32 float32).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DTYPES=${DTYPES:-"float32 float16"}
ADAPTERS=${ADAPTERS:-/tmp/lora}
OUT=${OUT:-Benchmarks/results/lora-$(date +%Y%m%d-%H%M).jsonl}
MODEL=models/smollm2-135m-instruct-q4_1.gguf
BIN=.build/release/folio
COMMON=(--model "$MODEL" --num-prompts 32 --input-len 128 --output-len 64 --max-num-seqs 32 --num-kv-blocks 1024 --json)
mkdir -p "$(dirname "$OUT")"
configs=("base")
for d in $DTYPES; do for r in 8 64; do for k in 1 4 16; do configs+=("$d:$r:$k"); done; done; done
for run in $(seq 1 "$RUNS"); do
    for c in "${configs[@]}"; do
        if [ "$c" = base ]; then args=(); d=none; r=0; k=0; else
            IFS=: read -r d r k <<< "$c"
            args=(--enable-lora --max-loras "$k" --max-lora-rank 64 --lora-dtype "$d" --lora-path "$ADAPTERS/smollm2-r$r" --num-loras "$k")
        fi
        line=$("$BIN" bench throughput "${COMMON[@]}" "${args[@]}" 2>/tmp/folio-lora-bench.err)
        load=$(sed -n 's/.*loaded in \([0-9.]*\) ms.*/\1/p' /tmp/folio-lora-bench.err)
        mib=$(sed -n "s/.*, \([0-9.]*\) MiB each.*/\1/p" /tmp/folio-lora-bench.err)
        echo "{\"run\": $run, \"dtype\": \"$d\", \"rank\": $r, \"num_loras\": $k, \"load_ms\": ${load:-0}, \"mib_each\": ${mib:-0}, \"result\": $line}" | tee -a "$OUT"
    done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = {r["run"]: r["result"]["total_tokens_per_s"] for r in rows if r["num_loras"] == 0}
keys = sorted({(r["dtype"], r["rank"], r["num_loras"]) for r in rows}, key=lambda k: (k[0] != "none", k))
print(f"{'dtype':8} {'rank':>4} {'loras':>5} {'tok/s':>8} {'vs base':>8} {'load ms':>8} {'MiB each':>8}")
for k in keys:
    rs = [r for r in rows if (r["dtype"], r["rank"], r["num_loras"]) == k]
    tps = statistics.median(r["result"]["total_tokens_per_s"] for r in rs)
    ratio = statistics.median(r["result"]["total_tokens_per_s"] / base[r["run"]] for r in rs)
    load = statistics.median(r["load_ms"] / max(r["num_loras"], 1) for r in rs)
    mib = statistics.median(r.get("mib_each", 0) for r in rs)
    print(f"{k[0]:8} {k[1]:>4} {k[2]:>5} {tps:8.1f} {ratio:8.3f} {load:8.1f} {mib:8.1f}")
PY
