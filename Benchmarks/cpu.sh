#!/usr/bin/env bash
# Fast CPU inference, side by side in one go on the same GGUF files (issue 6):
#   single stream: llama.cpp's llama-bench (pp512, tg128, 2 threads) vs folio bench latency
#     prefill tok/s = 512 / p50(latency of 512 prompt tokens, 1 output token)
#     decode tok/s  = 127 / (p50(1 prompt token, 128 out) - p50(1 prompt token, 1 out))   (first token excluded, as tg128)
#     bandwidth bound = 22 GB/s (two cores, ../shared/STYLE.md) / bytes of weights read per token
#   offline throughput on SmolLM2 (64 prompts x 128 random tokens, 64 out): folio bench throughput vs Hugging Face
#     transformers generate (fp32, batch 64, and one prompt at a time) vs llama-batched-bench (64 sequences, same token counts)
#   serve: seconds from `folio serve` start to /health answering (second start: page cache warm), and resident memory.
# Writes Benchmarks/results/cpu-DATE.{jsonl,md} and replaces the table between the cpu-bench markers in BENCHMARKS.md.
# Needs: a release build (swift build -c release), the peers (../shared/peers/run_peers.sh install models gguf, and
# llama.cpp built as BENCHMARKS.md says). REPS (default 5) repetitions; medians reported. MODELS, KQUANTS, THROUGHPUT
# and MARK narrow a run (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/tmp/folio-peers}
BIN=${LLAMA_BIN:-$PEERS/src/llama-build/bin}
PY=${PY:-$PEERS/venv/bin/python}
REPS=${REPS:-5}
SMOL=models/smollm2-135m-instruct-q4_1.gguf
GEMMA=models/gemma-3-270m-q4_k_m.gguf
TINY=$PEERS/models/gguf/tinyllama-1.1b
# The GGUF types real files use, made with llama-quantize from the peers' TinyLlama-shaped F16 file (KQUANTS="" skips).
KQUANTS=${KQUANTS-"Q4_K_M Q5_K_M Q6_K Q3_K_M Q2_K Q5_0 IQ4_XS"}
for t in $KQUANTS; do
  out=$TINY-$(echo "$t" | tr 'A-Z' 'a-z').gguf
  [ -f "$out" ] || "$BIN/llama-quantize" "$TINY-f16.gguf" "$out" "$t" 2 >/dev/null 2>&1 || { echo "llama-quantize $t failed" >&2; exit 1; }
done
MODELS=${MODELS:-"$SMOL $GEMMA $TINY-q4_0.gguf $TINY-q8_0.gguf $TINY-f16.gguf $(for t in $KQUANTS; do printf '%s ' "$TINY-$(echo "$t" | tr 'A-Z' 'a-z').gguf"; done)"}
THROUGHPUT=${THROUGHPUT:-1}
# The table's block in BENCHMARKS.md (MARK=cpu-bench-avx2 for a machine without AVX-512).
MARK=${MARK:-cpu-bench}
folio=.build/release/folio
mkdir -p Benchmarks/results
STAMP=$(date +%Y%m%d-%H%M)
R=Benchmarks/results/cpu-$STAMP.jsonl
: > "$R"
rec() { echo "$1" | tee -a "$R"; }
lat() { $folio bench latency --model "$1" --input-len "$2" --output-len "$3" --batch-size 1 --iters "$4" --json 2>/dev/null; }

# The machine's read bandwidth with 2 threads, for the decode bandwidth bound (Benchmarks/membw.c).
cc -O2 -march=native -pthread Benchmarks/membw.c -o .build/membw
rec "{\"model\": \"machine\", \"membw\": $(.build/membw 2 2048 7)}"

for m in $MODELS; do
  name=$(basename "$m" .gguf)
  echo "== $name  $(date +%T)" >&2
  rec "{\"model\": \"$name\", \"engine\": \"llama.cpp\", \"llama_bench\": [$($BIN/llama-bench -m "$m" -p 512 -n 128 -t 2 -r "$REPS" -o jsonl 2>/dev/null | paste -sd,)]}"
  rec "{\"model\": \"$name\", \"engine\": \"folio\", \"prefill512\": $(lat "$m" 512 1 "$REPS"), \"first1\": $(lat "$m" 1 1 "$REPS"), \"decode128\": $(lat "$m" 1 128 "$REPS")}"
  rec "{\"model\": \"$name\", \"weights\": $($PY - "$m" <<'EOF'
import sys, json
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
names = {t.name for t in r.tensors}
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
def field(k):
    f = r.fields.get(f"{arch}.{k}")
    return int(f.parts[f.data[0]][0]) if f else None
# Per token every tensor is read once, except the embedding table (one row), unless it is also the output matrix, and
# stacked experts (*_exps), of which a token reads expert_used_count of expert_count.
share = (field("expert_used_count") or 1) / (field("expert_count") or 1)
b = sum(int(t.n_bytes) * (share if "_exps" in t.name else 1) for t in r.tensors
        if t.name != "token_embd.weight" or "output.weight" not in names)
print(json.dumps({"bytes_per_token": int(b)}))
EOF
)}"
done

if [ "$THROUGHPUT" = 1 ]; then
  echo "== throughput  $(date +%T)" >&2
  rec "{\"model\": \"smollm2-135m-instruct-q4_1\", \"engine\": \"folio\", \"throughput\": $($folio bench throughput --model $SMOL --num-prompts 64 --input-len 128 --output-len 64 --json 2>/dev/null)}"
  rec "{\"model\": \"smollm2-135m-instruct-q4_1\", \"engine\": \"transformers\", \"throughput\": $($PY Benchmarks/hf_throughput.py $SMOL --num-prompts 64 --input-len 128 --output-len 64 2>/dev/null | tail -1)}"
  rec "{\"model\": \"smollm2-135m-instruct-q4_1\", \"engine\": \"transformers-b1\", \"throughput\": $($PY Benchmarks/hf_throughput.py $SMOL --num-prompts 64 --input-len 128 --output-len 64 --batch 1 2>/dev/null | tail -1)}"
  rec "{\"model\": \"smollm2-135m-instruct-q4_1\", \"engine\": \"llama.cpp-batched\", \"throughput\": [$($BIN/llama-batched-bench -m $SMOL -c 12352 -b 2048 -ub 512 -npp 128 -ntg 64 -npl 64 -t 2 --output-format jsonl 2>/dev/null | grep '^{' | paste -sd,)]}"
  echo "== serve startup  $(date +%T)" >&2
  for i in 1 2; do
    port=$((18000 + RANDOM % 1000))
    t0=$(date +%s.%N)
    $folio serve --model $SMOL --port $port >/tmp/folio-serve-bench.log 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.02; done
    t1=$(date +%s.%N)
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    kv=$(grep -o 'KV cache [0-9]* MiB' /tmp/folio-serve-bench.log | grep -o '[0-9]*' || echo 0)
    kill -TERM $pid; wait $pid || true
  done
  rec "{\"model\": \"smollm2-135m-instruct-q4_1\", \"engine\": \"folio\", \"serve\": {\"ready_s\": $(printf "%.3f" "$(echo "$t1 - $t0" | bc)"), \"rss_kib\": $rss, \"kv_mib\": $kv}}"
fi

$PY Benchmarks/cpu_table.py "$R" > "Benchmarks/results/cpu-$STAMP.md"
$PY - "Benchmarks/results/cpu-$STAMP.md" "$R" "$MARK" <<'EOF'
import sys, re
table, mark = open(sys.argv[1]).read(), sys.argv[3]
md = open("BENCHMARKS.md").read()
block = f"<!-- {mark}:begin -->\n{table}\n(`bash Benchmarks/cpu.sh`, raw results {sys.argv[2]})\n<!-- {mark}:end -->"
md = re.sub(rf"<!-- {mark}:begin -->.*?<!-- {mark}:end -->", lambda _: block, md, flags=re.S)
open("BENCHMARKS.md", "w").write(md)
EOF
cat "Benchmarks/results/cpu-$STAMP.md"
