#!/usr/bin/env python3
"""GGUF files of the tiny random GPT-OSS (scripts/make_tiny_goldens.py) and transformers' logits for exactly the
weights each file holds.

usage: make_gpt_oss_gguf_goldens.py LLAMA_CPP_DIR LLAMA_BIN_DIR Tests/Fixtures/models/hf-tiny/gpt-oss
  1. gpt-oss-f32.gguf: llama.cpp's converter (scripts/make_gguf_without_tokenizer.py, float32).
  2. gpt-oss-mxfp4.gguf: `llama-quantize gpt-oss-f32.gguf ... MXFP4_MOE` (experts' gate/up in MXFP4, the other
     projections Q8_0 or F16, as llama.cpp quantizes GPT-OSS).
  3. gguf-golden-f32.json / gguf-golden-mxfp4.json: the same prompts as golden.json through transformers' GptOss
     with every weight replaced by the file's tensor dequantized by gguf-py (gguf.quants.dequantize), and the
     experts' SwiGLU limit set to 7.0: GGUF has no field for it and llama.cpp fixes alpha 1.702 and limit 7 (the
     tiny model's config says 1.5, so the safetensors golden exercises the clamp).
"""
import json, os, subprocess, sys
import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from transformers import AutoModelForCausalLM

llama, bindir, d = sys.argv[1], sys.argv[2], sys.argv[3]
here = os.path.dirname(os.path.abspath(__file__))
f32 = os.path.join(d, "gpt-oss-f32.gguf")
mx = os.path.join(d, "gpt-oss-mxfp4.gguf")
subprocess.run([sys.executable, os.path.join(here, "make_gguf_without_tokenizer.py"), llama, d, f32, "f32"], check=True)
subprocess.run([os.path.join(bindir, "llama-quantize"), f32, mx, "MXFP4_MOE", "1"], check=True, capture_output=True)
gold = json.load(open(os.path.join(d, "golden.json")))


def tensors(path):
    out = {}
    for t in GGUFReader(path).tensors:
        shape = [int(x) for x in reversed(t.shape.tolist())]
        out[t.name] = torch.from_numpy(np.ascontiguousarray(dequantize(t.data, t.tensor_type).astype(np.float32)).reshape(shape))
    return out


def hf_state(g, layers):
    sd = {"model.embed_tokens.weight": g["token_embd.weight"], "lm_head.weight": g["output.weight"],
          "model.norm.weight": g["output_norm.weight"]}
    for i in range(layers):
        b, p = f"blk.{i}.", f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = g[b + "attn_norm.weight"]
        sd[p + "post_attention_layernorm.weight"] = g[b + "post_attention_norm.weight"]
        for s, h in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj"), ("attn_output", "o_proj")):
            sd[p + f"self_attn.{h}.weight"] = g[b + s + ".weight"]
            sd[p + f"self_attn.{h}.bias"] = g[b + s + ".bias"]
        sd[p + "self_attn.sinks"] = g[b + "attn_sinks.weight"]
        sd[p + "mlp.router.weight"] = g[b + "ffn_gate_inp.weight"]
        sd[p + "mlp.router.bias"] = g[b + "ffn_gate_inp.bias"]
        gate, up = g[b + "ffn_gate_exps.weight"], g[b + "ffn_up_exps.weight"]            # [E, ff, hidden]
        gu = torch.empty(gate.shape[0], gate.shape[2], 2 * gate.shape[1])                 # [E, hidden, 2 ff], interleaved
        gu[:, :, 0::2], gu[:, :, 1::2] = gate.transpose(1, 2), up.transpose(1, 2)
        gub = torch.empty(gate.shape[0], 2 * gate.shape[1])
        gub[:, 0::2], gub[:, 1::2] = g[b + "ffn_gate_exps.bias"], g[b + "ffn_up_exps.bias"]
        sd[p + "mlp.experts.gate_up_proj"], sd[p + "mlp.experts.gate_up_proj_bias"] = gu, gub
        sd[p + "mlp.experts.down_proj"] = g[b + "ffn_down_exps.weight"].transpose(1, 2).contiguous()   # [E, ff, hidden]
        sd[p + "mlp.experts.down_proj_bias"] = g[b + "ffn_down_exps.bias"]
    return sd


for name, path in (("f32", f32), ("mxfp4", mx)):
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    missing, unexpected = m.load_state_dict(hf_state(tensors(path), m.config.num_hidden_layers), strict=True)
    for layer in m.model.layers: layer.mlp.experts.limit = 7.0
    cases = []
    for c in gold["cases"]:
        ids = c["prompt_token_ids"]
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = m(x).logits[0]
            gen = m.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False, pad_token_id=0)[0][len(ids):].tolist()
        cases.append({"prompt_token_ids": ids, "logits": [[round(v, 6) for v in r] for r in logits.tolist()], "greedy_16": gen})
    types = sorted({t.tensor_type.name for t in GGUFReader(path).tensors})
    json.dump({"model": os.path.basename(path), "tensor_types": types,
               "reference": f"transformers {__import__('transformers').__version__} float32, weights dequantized from the GGUF by gguf-py, swiglu_limit 7",
               "cases": cases}, open(os.path.join(d, f"gguf-golden-{name}.json"), "w"))
    print(name, types, [c["greedy_16"][:4] for c in cases])
