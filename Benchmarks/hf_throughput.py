#!/usr/bin/env python3
"""Hugging Face transformers on the throughput workload of `folio bench throughput` (vLLM's `bench throughput
--backend hf` shape): N random-token prompts of L tokens, O new tokens each (EOS ignored), greedy, fp32 weights
dequantized from the same GGUF, all prompts in batches of --batch. Prints one JSON line.
usage: hf_throughput.py MODEL.gguf [--num-prompts 64] [--input-len 128] [--output-len 64] [--batch 64] [--threads 2]"""
import argparse, json, os, sys, time
import torch
from transformers import AutoModelForCausalLM, GenerationConfig

ap = argparse.ArgumentParser()
ap.add_argument("gguf")
ap.add_argument("--num-prompts", type=int, default=64)
ap.add_argument("--input-len", type=int, default=128)
ap.add_argument("--output-len", type=int, default=64)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(a.gguf)), gguf_file=os.path.basename(a.gguf),
                                         dtype=torch.float32).eval()
g = torch.Generator().manual_seed(0)
prompts = torch.randint(0, m.config.vocab_size, (a.num_prompts, a.input_len), generator=g)
gc = GenerationConfig(max_new_tokens=a.output_len, min_new_tokens=a.output_len, do_sample=False, eos_token_id=None,
                      pad_token_id=0, use_cache=True)
with torch.inference_mode():
    m.generate(prompts[:2, :16], generation_config=gc, attention_mask=torch.ones_like(prompts[:2, :16]))  # warm-up
    t0 = time.perf_counter()
    out_tokens = 0
    for i in range(0, a.num_prompts, a.batch):
        x = prompts[i:i + a.batch]
        y = m.generate(x, generation_config=gc, attention_mask=torch.ones_like(x))
        out_tokens += (y.shape[1] - x.shape[1]) * x.shape[0]
    dt = time.perf_counter() - t0
total = a.num_prompts * a.input_len + out_tokens
print(json.dumps({"engine": "transformers", "version": __import__("transformers").__version__, "torch": torch.__version__,
                  "elapsed_time": dt, "requests_per_s": a.num_prompts / dt, "total_tokens_per_s": total / dt,
                  "output_tokens_per_s": out_tokens / dt, "batch": a.batch, "threads": a.threads}))
