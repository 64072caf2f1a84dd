#!/usr/bin/env python3
"""Markdown tables (with ratios) from the JSON lines Benchmarks/cpu.sh writes. usage: cpu_table.py RESULTS.jsonl"""
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# Read bandwidth, two threads: measured in the same run (Benchmarks/membw.c), else ../shared/STYLE.md's 22 GB/s.
BANDWIDTH = next((r["membw"]["read_gb_s"] * 1e9 for r in rows if "membw" in r), 22e9)
by = {}
for r in rows:
    by.setdefault(r["model"], {}).update({k: v for k, v in r.items() if k not in ("model", "engine")})

def med(x): return statistics.median(x)

out = ["| model | llama.cpp pp512 | Folio pp512 | ratio | llama.cpp tg128 | Folio tg128 | ratio | bandwidth bound | Folio % of bound |",
       "|---|---|---|---|---|---|---|---|---|"]
out.insert(0, f"Bandwidth bound: {BANDWIDTH / 1e9:.1f} GB/s read (2 threads) / bytes of weights read per token.\n")
for m, d in by.items():
    if "llama_bench" not in d:
        continue
    lb = {(t["n_prompt"], t["n_gen"]): med(t["samples_ts"]) for t in d["llama_bench"]}
    pp_l, tg_l = lb.get((512, 0)), lb.get((0, 128))
    pp_f = 512 / d["prefill512"]["p50_latency_s"]
    tg_f = 127 / (d["decode128"]["p50_latency_s"] - d["first1"]["p50_latency_s"])
    bound = BANDWIDTH / d["weights"]["bytes_per_token"]
    out.append(f"| {m} | {pp_l:.1f} | {pp_f:.1f} | **{pp_f / pp_l:.2f}x** | {tg_l:.1f} | {tg_f:.1f} | **{tg_f / tg_l:.2f}x** | "
               f"{bound:.1f} tok/s ({d['weights']['bytes_per_token'] / 1e6:.0f} MB/token) | {100 * tg_f / bound:.0f}% |")
out.append("")
m = "smollm2-135m-instruct-q4_1"
d = by.get(m, {})
t = {r["engine"]: r["throughput"] for r in rows if "throughput" in r}
if t:
    f = t["folio"]["total_tokens_per_s"]
    lines = ["| offline throughput, SmolLM2 Q4_1, 64 x (128 in + 64 out) | total tok/s | output tok/s | Folio ratio |", "|---|---|---|---|",
             f"| folio bench throughput | {f:.1f} | {t['folio']['output_tokens_per_s']:.1f} | |"]
    for engine, label in [("transformers", "batch 64"), ("transformers-b1", "one prompt at a time")]:
        if engine in t:
            h = t[engine]
            lines.append(f"| HF transformers generate (fp32, {label}) | {h['total_tokens_per_s']:.1f} | {h['output_tokens_per_s']:.1f} | **{f / h['total_tokens_per_s']:.2f}x** |")
    if t.get("llama.cpp-batched"):
        b = t["llama.cpp-batched"][0]
        tot = b["pl"] * (b["pp"] + b["tg"]) / (b["t_pp"] + b["t_tg"])
        outp = b["pl"] * b["tg"] / (b["t_pp"] + b["t_tg"])
        lines.append(f"| llama-batched-bench (64 sequences) | {tot:.1f} | {outp:.1f} | **{f / tot:.2f}x** |")
    out += lines + [""]
s = [r["serve"] for r in rows if "serve" in r]
if s:
    out.append(f"`folio serve` (SmolLM2, second start): ready in {s[0]['ready_s']:.2f} s, resident memory {s[0]['rss_kib'] / 1024:.0f} MiB "
               f"(weights 92 MiB, repacked at load; KV cache {s[0]['kv_mib']} MiB allocated, touched as used).")
print("\n".join(out))
