#!/usr/bin/env bash
# DeepSeek (multi-head latent attention + MoE) side by side with llama.cpp on the same GGUF files (issue "One file per
# architecture"): a DeepSeek-V2-Lite-shaped random model of 1.16B parameters (scripts/make_deepseek_bench_model.py),
# converted by llama.cpp's converter (scripts/make_gguf_without_tokenizer.py) to F16 and quantized by llama-quantize to Q8_0 and
# Q4_K_M, then Benchmarks/cpu.sh's single-stream runs (llama-bench pp512/tg128 vs folio bench latency, medians of REPS)
# into the deepseek-bench table of BENCHMARKS.md. The bandwidth bound counts a token's 6 of 24 experts.
# Needs: a release build, the peers (llama.cpp built, its source tree, the venv with torch and transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-/tmp/folio-peers}
BIN=${LLAMA_BIN:-$PEERS/src/llama-build/bin}
SRC=${LLAMA_SRC:-$PEERS/src/llama_cpp_python-0.3.36/vendor/llama.cpp}
PY=${PY:-$PEERS/venv/bin/python}
D=${DEEPSEEK_DIR:-$PEERS/models/deepseek-1b}
mkdir -p "$D"
[ -f "$D/hf/model.safetensors" ] || $PY scripts/make_deepseek_bench_model.py "$D/hf"
[ -f "$D/ds-1b-f16.gguf" ] || $PY scripts/make_gguf_without_tokenizer.py "$SRC" "$D/hf" "$D/ds-1b-f16.gguf" f16
for t in Q8_0 Q4_K_M; do
  out=$D/ds-1b-$(echo "$t" | tr 'A-Z' 'a-z').gguf
  [ -f "$out" ] || "$BIN/llama-quantize" "$D/ds-1b-f16.gguf" "$out" "$t" 2 >/dev/null 2>&1
done
MODELS="$D/ds-1b-q8_0.gguf $D/ds-1b-q4_k_m.gguf" THROUGHPUT=0 KQUANTS="" MARK=deepseek-bench REPS=${REPS:-5} bash Benchmarks/cpu.sh
