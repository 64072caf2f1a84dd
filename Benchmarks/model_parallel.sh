#!/usr/bin/env bash
# Model parallelism on one host, side by side in one run: `folio bench latency` in one process on 2 threads against
# TP=2 and PP=2 (mpirun -np 2, one core each: Open MPI binds each rank to a core) on the same model, PP both with
# micro-batches in flight (the default) and one pass at a time (FOLIO_PIPELINE_MICROBATCHES=0): the batch's whole
# latency, prefill (time to first token of the batch's prompts), decode tokens/s (from the batch's first token to its
# last: with micro-batches the first token comes before the other micro-batch's prefill ends, so this undercounts
# their decode), and rank 0's seconds per step in collectives / transfers. ROUNDS rounds, setups interleaved; medians.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/smollm2-135m-instruct-q4_1.gguf}
ROUNDS=${ROUNDS:-3}; IN=${IN:-256}; OUT=${OUT:-32}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
folio=.build/release/folio
mkdir -p Benchmarks/results
R=Benchmarks/results/model-parallel-$(date +%Y%m%d-%H%M).jsonl
for round in $(seq "$ROUNDS"); do
  for bs in 1 4; do
    for setup in one tp2 pp2 pp2seq; do
      args=(bench latency --model "$MODEL" --input-len "$IN" --output-len "$OUT" --batch-size "$bs" --iters 3 --warmup-iters 1 --json)
      case $setup in
        one) out=$($folio "${args[@]}" --threads 2 2>/dev/null) ;;
        tp2) out=$(mpirun -np 2 "$folio" "${args[@]}" --tensor-parallel-size 2 2>/dev/null) ;;
        pp2) out=$(mpirun -np 2 "$folio" "${args[@]}" --pipeline-parallel-size 2 2>/dev/null) ;;
        pp2seq) out=$(mpirun -np 2 -x FOLIO_PIPELINE_MICROBATCHES=0 "$folio" "${args[@]}" --pipeline-parallel-size 2 2>/dev/null) ;;
      esac
      echo "{\"round\": $round, \"setup\": \"$setup\", \"batch\": $bs, \"result\": $out}" | tee -a "$R"
    done
  done
done
python3 - "$R" "$IN" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n_in = int(sys.argv[2])
names = {"one": "1 process x 2 threads", "tp2": "TP=2 x 1 core (mpirun)", "pp2": "PP=2 x 1 core, micro-batches",
         "pp2seq": "PP=2 x 1 core, one pass at a time"}
setups = ("one", "tp2", "pp2", "pp2seq")
print(f"| batch | setup | p50 latency s | p50 TTFT s ({n_in}-token prompts) | prefill tok/s | decode tok/s | rank 0 in collectives, s/step | latency ratio | decode ratio | prefill ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
for bs in (1, 4):
    med = {}
    for s in setups:
        rs = [r["result"] for r in rows if r["batch"] == bs and r["setup"] == s]
        med[s] = (statistics.median(r["p50_latency_s"] for r in rs), statistics.median(r["p50_ttft_s"] for r in rs),
                  statistics.median(r["p50_decode_tok_s"] for r in rs), statistics.median(r.get("tp_collective_s_per_step", 0) for r in rs))
    for s in setups:
        lat, ttft, dec, coll = med[s]
        print(f"| {bs} | {names[s]} | {lat:.3f} | {ttft:.3f} | {n_in * bs / ttft:.0f} | {dec:.1f} | {coll * 1000:.2f} ms | {med['one'][0] / lat:.2f} | {dec / med['one'][2]:.2f} | {med['one'][1] / ttft:.2f} |")
PY
echo "wrote $R"
