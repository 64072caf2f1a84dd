#!/usr/bin/env bash
# Speculative decoding side by side: Folio (no speculation, ngram, suffix, draft model) and llama.cpp (llama-completion,
# llama-lookup, llama-speculative) on the same GGUF files and prompts, interleaved in one run; greedy, up to OUT tokens,
# stopping at EOS. Batch 1: `folio bench latency --batch-size 1` over prompts 1..REPS of each workload (prompt 0 warms
# up); batch 8: prompts 8..15 at once (0..7 warm up), each run after its prompts were prefilled (--prefill-first).
# Figures: median decode tokens/s after the first token (batch 8: all samples' tokens per second).
#
#   bash Benchmarks/speculative.sh            (needs: release build, models/, the peers' llama.cpp build, see below)
# Env: MODEL (SmolLM2-135M-Instruct Q4_1 GGUF), TARGET_HF / TARGET_GGUF (the same weights in F16: gguf_to_hf.py +
# convert_hf_to_gguf.py), LLAMA_BIN (llama.cpp bin dir with llama-completion, llama-lookup, llama-speculative), OUT, REPS.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
TARGET_HF=${TARGET_HF:-/tmp/spec/smollm2-f16}
TARGET_GGUF=${TARGET_GGUF:-/tmp/spec/smollm2-f16.gguf}
LLAMA_BIN=${LLAMA_BIN:-/tmp/folio-peers/src/llama-build/bin}
OUT=${OUT:-256}
REPS=${REPS:-3}
WORKLOADS=${WORKLOADS:-"copy prose agent"}
RUNS=${RUNS:-"none ngram suffix lookup f16-none f16-draft-q4_1"}   # a subset re-measures only those (with their baselines)
BATCHES=${BATCHES:-"1 8"}
want() { [[ " $RUNS " == *" $1 "* ]] && [[ " $BATCHES " == *" $2 "* ]]; }
P=Benchmarks/speculative/prompts
RES=Benchmarks/results/spec-$(date +%Y%m%d-%H%M).jsonl
FOLIO=.build/release/folio
NGRAM='{"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_min": 2, "prompt_lookup_max": 5}'
SUFFIX='{"method": "suffix"}'
DRAFT="{\"method\": \"draft_model\", \"model\": \"$MODEL\", \"num_speculative_tokens\": 4}"
[ -f $P/copy.json ] || python3 Benchmarks/speculative/make_prompts.py $P
mkdir -p Benchmarks/results /tmp/spec/prompts
echo "results: $RES"

folio() {  # folio WORKLOAD BATCH LABEL MODEL [SPEC]
  want "$3" "$2" || return 0
  local iters=$REPS warm=1
  [ "$2" -gt 1 ] && iters=1
  local j
  j=$($FOLIO bench latency --model "$4" --dataset $P/$1.json --batch-size "$2" --iters $iters --warmup-iters $warm \
      --output-len $OUT --stop-at-eos --prefill-first --json ${5:+--speculative-config "$5"} 2>/dev/null | tail -1)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps({"engine":"folio","workload":sys.argv[2],"batch":int(sys.argv[3]),"run":sys.argv[4],"decode_tok_s":d["decode_tok_s"],"median":d["p50_decode_tok_s"],"acceptance_rate":d.get("spec_decode_acceptance_rate"),"mean_acceptance_length":d.get("spec_decode_mean_acceptance_length")}))' "$j" "$1" "$2" "$3" | tee -a "$RES"
}

llama() {  # llama WORKLOAD LABEL BINARY ARGS...: batch 1 over prompts 1..REPS
  local w=$1 label=$2 bin=$3; shift 3
  want "$label" 1 || return 0
  local speeds=() acc=""
  for i in $(seq 1 "$REPS"); do
    python3 -c 'import json,sys; open(sys.argv[2],"w").write(json.load(open(sys.argv[1]))[int(sys.argv[3])])' $P/$w.json /tmp/spec/prompts/$w-$i.txt "$i"
    local log=/tmp/spec/llama-$label-$w-$i.log
    timeout 900 "$LLAMA_BIN/$bin" -f /tmp/spec/prompts/$w-$i.txt -n $OUT -t 2 --temp 0 "$@" > "$log" 2>&1 || true
    # lookup/speculative: "decoded N tokens in T seconds, speed: S t/s"; completion: "eval time = ... tokens per second".
    local s
    s=$(grep -oE "decoded +[0-9]+ tokens in +[0-9.]+ seconds, speed: +[0-9.]+" "$log" | grep -oE "[0-9.]+$" | tail -1 || true)
    [ -z "$s" ] && s=$(grep -E "common_perf_print: +eval time" "$log" | grep -oE "[0-9.]+ tokens per second" | grep -oE "^[0-9.]+" | tail -1 || true)
    speeds+=("${s:-0}")
    acc=$(grep -oE "accept += [0-9.]+%" "$log" | grep -oE "[0-9.]+" | tail -1 || true)
  done
  python3 -c 'import json,sys,statistics as st; v=[float(x) for x in sys.argv[4].split()]; print(json.dumps({"engine":"llama.cpp","workload":sys.argv[1],"batch":1,"run":sys.argv[2],"decode_tok_s":v,"median":st.median(v),"acceptance_rate":(float(sys.argv[3])/100 if sys.argv[3] else None)}))' "$w" "$label" "$acc" "${speeds[*]}" | tee -a "$RES"
}

for w in $WORKLOADS; do
  folio "$w" 1 none "$MODEL"
  folio "$w" 1 ngram "$MODEL" "$NGRAM"
  folio "$w" 1 suffix "$MODEL" "$SUFFIX"
  llama "$w" none llama-completion -m "$MODEL" -no-cnv
  llama "$w" lookup llama-lookup -m "$MODEL" --spec-draft-n-max 5
  folio "$w" 8 none "$MODEL"
  folio "$w" 8 ngram "$MODEL" "$NGRAM"
  folio "$w" 8 suffix "$MODEL" "$SUFFIX"
done
if [ -d "$TARGET_HF" ]; then
  for w in $WORKLOADS; do
    folio "$w" 1 f16-none "$TARGET_HF"
    folio "$w" 1 f16-draft-q4_1 "$TARGET_HF" "$DRAFT"
    llama "$w" f16-none llama-completion -m "$TARGET_GGUF" -no-cnv
    llama "$w" f16-draft-q4_1 llama-speculative -m "$TARGET_GGUF" -md "$MODEL" --spec-draft-n-max 4
  done
fi
python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = {(r["engine"], r["workload"], r["batch"], r["run"].split("-")[0] if r["run"].startswith("f16") else ""): r["median"]
        for r in rows if r["run"] in ("none", "f16-none")}
print("| engine | workload | batch | run | median decode tok/s | vs no speculation | acceptance |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    b = base.get((r["engine"], r["workload"], r["batch"], "f16" if r["run"].startswith("f16") else ""))
    ratio = f'{r["median"] / b:.2f}x' if b else ""
    acc = f'{100 * r["acceptance_rate"]:.0f}%' if r.get("acceptance_rate") is not None else ""
    print(f'| {r["engine"]} | {r["workload"]} | {r["batch"]} | {r["run"]} | {r["median"]:.1f} | {ratio} | {acc} |')
PY
