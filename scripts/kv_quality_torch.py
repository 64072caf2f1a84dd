#!/usr/bin/env python3
"""KV cache quantization quality in Hugging Face transformers (CPU torch), as a reference for Folio's figures.

Same protocol as Tests/FolioEngineTests/KVCacheQualityTests.swift: SmolLM2-135M-Instruct, the first N tokens of
/usr/share/common-licenses/GPL-3 teacher-forced, top-1 agreement and mean KL(float32 || dtype) of every position's
next-token distribution, with K and V (after RoPE) rounded before attention the way each format stores them:
  float16, bfloat16   a cast
  int8                one scale per token and KV head, amax / 127, round half to even (as Folio's kvformat.c)
  fp8                 e4m3fn with one scale per token and KV head, amax / 448 (as Folio's kvformat.c)
  fp8-tensor          e4m3fn with one scale for the whole tensor, 1.0 (vLLM's fp8 KV cache without calibrated scales)
usage: kv_quality_torch.py HF_DIR [N]    (HF_DIR: the GGUF's weights, ../shared/peers/gguf_to_hf.py FILE OUT float32)
"""
import sys

import torch
from transformers import AttentionInterface, AutoModelForCausalLM, AutoTokenizer
from transformers.integrations.sdpa_attention import sdpa_attention_forward

E4M3_MAX = 448.0


def per_token_head(x, qmax, cast):
    """x: [batch, kv_heads, tokens, head_dim]; one scale per (batch, head, token)."""
    s = x.abs().amax(dim=-1, keepdim=True) / qmax
    safe = torch.where(s == 0, torch.ones_like(s), s)
    return cast(x / safe) * s


ROUND = {
    "float32": lambda x: x,
    "float16": lambda x: x.to(torch.float16).float(),
    "bfloat16": lambda x: x.to(torch.bfloat16).float(),
    "int8": lambda x: per_token_head(x, 127.0, torch.round),
    "fp8": lambda x: per_token_head(x, E4M3_MAX, lambda v: v.to(torch.float8_e4m3fn).float()),
    "fp8-tensor": lambda x: x.clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).float(),
}
current = ["float32"]


def attention(module, query, key, value, attention_mask, **kw):
    r = ROUND[current[0]]
    return sdpa_attention_forward(module, query, r(key), r(value), attention_mask, **kw)


def main():
    path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 512
    AttentionInterface.register("folio_kv_round", attention)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="folio_kv_round").eval()
    text = open("/usr/share/common-licenses/GPL-3", encoding="utf-8").read()
    ids = tok(text, add_special_tokens=False)["input_ids"][:n]
    assert len(ids) == n, len(ids)
    x = torch.tensor([ids])
    logp = {}
    with torch.no_grad():
        for name in ROUND:
            current[0] = name
            logp[name] = torch.log_softmax(model(x).logits[0].float(), dim=-1)
    ref = logp["float32"]
    top = ref.argmax(-1)
    print(f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, {n} tokens of GPL-3")
    for name, lq in logp.items():
        if name == "float32":
            continue
        agree = int((lq.argmax(-1) == top).sum())
        kl = (ref.exp() * (ref - lq)).sum(-1).clamp(min=0).mean().item()
        print(f"KV {name}: top-1 agreement with float32 {agree}/{n} ({100 * agree / n:.2f}%), mean KL {kl:.5f}")


if __name__ == "__main__":
    main()
