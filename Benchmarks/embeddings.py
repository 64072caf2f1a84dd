#!/usr/bin/env python3
"""Embedding throughput, Folio vs sentence-transformers on torch CPU, side by side on the same 1,000 sentences.

usage: ROUNDS=3 REPS=3 python3 Benchmarks/embeddings.py   (run with the peers' venv python, which has
       sentence-transformers; MODEL defaults to models/all-minilm-l6-v2, THREADS to every core)
Each round times sentence-transformers' encode (batch_size 32, its default; torch threads = THREADS; median of REPS
after a warm-up) and then `folio bench embed` on the same texts (median of REPS after a warm-up, all 1,000 texts
handed over at once as one /v1/embeddings request would); the ratio is per round, the figure the median of rounds.
Both include tokenization. Results: Benchmarks/results/embed-<date>.jsonl.
"""
import json, os, random, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.environ.get("MODEL", os.path.join(ROOT, "models", "all-minilm-l6-v2"))
FOLIO = os.environ.get("FOLIO_BIN", os.path.join(ROOT, ".build", "release", "folio"))
ROUNDS, REPS = int(os.environ.get("ROUNDS", "3")), int(os.environ.get("REPS", "3"))
THREADS = int(os.environ.get("THREADS", str(os.cpu_count())))

import torch
torch.set_num_threads(THREADS)
from sentence_transformers import SentenceTransformer

# 1,000 sentences of 5-40 words drawn from the embedding fixtures' vocabulary (seeded).
words = " ".join(json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "embeddings", "texts.json")))).split()
rng = random.Random(1)
texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + "." for _ in range(1000)]
f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
json.dump(texts, f); f.close()

st = SentenceTransformer(MODEL, device="cpu")
st.encode(texts[:64])
rows = []
stamp = time.strftime("%Y%m%d-%H%M")
out = os.path.join(ROOT, "Benchmarks", "results", f"embed-{stamp}.jsonl")
for r in range(ROUNDS):
    ts = []
    for _ in range(REPS):
        t0 = time.perf_counter(); st.encode(texts, batch_size=32); ts.append(time.perf_counter() - t0)
    st_s = statistics.median(ts)
    res = subprocess.run([FOLIO, "bench", "embed", "--model", MODEL, "--input-file", f.name, "--reps", str(REPS), "--threads", str(THREADS)],
                         capture_output=True, text=True, check=True)
    fo = json.loads(res.stdout.strip().splitlines()[-1])
    row = {"round": r, "texts": len(texts), "tokens": fo["tokens"], "threads": THREADS,
           "st_s": st_s, "st_texts_per_s": len(texts) / st_s, "folio_s": fo["median_s"], "folio_texts_per_s": fo["texts_per_s"],
           "ratio": st_s / fo["median_s"], "st_times": ts, "folio_times": fo["times_s"]}
    rows.append(row)
    print(json.dumps(row), flush=True)
with open(out, "w") as o:
    for row in rows: o.write(json.dumps(row) + "\n")
print(json.dumps({"model": os.path.basename(MODEL), "sentence_transformers": __import__("sentence_transformers").__version__,
                  "torch": torch.__version__, "median_st_texts_per_s": statistics.median(r["st_texts_per_s"] for r in rows),
                  "median_folio_texts_per_s": statistics.median(r["folio_texts_per_s"] for r in rows),
                  "median_ratio": statistics.median(r["ratio"] for r in rows), "results": out}))
os.unlink(f.name)
