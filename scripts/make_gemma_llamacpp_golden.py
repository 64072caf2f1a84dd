#!/usr/bin/env python3
"""Greedy continuations of Gemma-3-270M (Q4_K_M GGUF) by llama.cpp, for Folio's Gemma test.
llama.cpp (llama-completion from ../shared/peers, built without AMX: its AMX path crashes on this machine's VM)
runs each prompt with BOS, temperature 0, 24 new tokens, 2 threads.
usage: python scripts/make_gemma_llamacpp_golden.py LLAMA_COMPLETION models/gemma-3-270m-q4_k_m.gguf OUT.json"""
import json, subprocess, sys

exe, model, out = sys.argv[1:4]
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was a little",
           "The three primary colors are", "Water boils at a temperature of"]
cases = []
for p in PROMPTS:
    r = subprocess.run([exe, "-m", model, "-p", p, "-n", "24", "--temp", "0", "-no-cnv", "-t", "2", "-c", "256",
                        "--no-display-prompt"], capture_output=True, text=True, check=True)
    cases.append({"prompt": p, "llamacpp_text": r.stdout})
    print(repr(p), "->", repr(r.stdout), file=sys.stderr)
json.dump({"model": "gemma-3-270m-q4_k_m.gguf", "reference": "llama.cpp (llama-cpp-python 0.3.36 vendor) llama-completion --temp 0 -n 24",
           "cases": cases}, open(out, "w"), ensure_ascii=False, indent=1)
