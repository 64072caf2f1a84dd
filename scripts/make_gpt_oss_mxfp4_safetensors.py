#!/usr/bin/env python3
"""A tiny GPT-OSS checkpoint whose experts are stored as the released GPT-OSS checkpoints store them: MXFP4 in
safetensors (`mlp.experts.gate_up_proj_blocks` [experts, 2 * ff, hidden / 32, 16] uint8, two e2m1 values per byte,
low nibble first; `..._scales` [experts, 2 * ff, hidden / 32] uint8 E8M0; the same for down_proj), with
`quantization_config` {"quant_method": "mxfp4"}. The blocks are gguf-py's MXFP4 quantization of random float experts
(its nibble order rearranged to the checkpoint's); golden.json holds transformers' logits and greedy continuations of
the folder as transformers loads it (Mxfp4Config(dequantize=True): its own MXFP4 decoder), run in float32.

usage: python scripts/make_gpt_oss_mxfp4_safetensors.py Tests/Fixtures/models/hf-tiny/gpt-oss-mxfp4
       (needs torch, transformers, safetensors, gguf)
"""
import json, os, sys
import numpy as np, torch
from gguf.quants import MXFP4
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, GptOssConfig, GptOssForCausalLM, Mxfp4Config

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(4321)
g = torch.Generator().manual_seed(77)
# Row lengths (hidden 64, intermediate 64) are whole MXFP4 blocks of 32, as in the released models (2880).
cfg = GptOssConfig(vocab_size=512, hidden_size=64, intermediate_size=64, num_hidden_layers=3, num_attention_heads=8,
                   num_key_value_heads=2, max_position_embeddings=512, head_dim=16, num_local_experts=4, num_experts_per_tok=2,
                   sliding_window=16, swiglu_limit=1.5, rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0,
                   "factor": 8.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 64})
m = GptOssForCausalLM(cfg).eval()
with torch.no_grad():   # as make_tiny_goldens.py: wider init so logits are not flat, sinks logit-sized
    for pn, p in m.named_parameters():
        p.normal_(0.0, 0.08, generator=g)
        if p.dim() == 1 and p.numel() == cfg.hidden_size: p.add_(1.0)
        if pn.endswith("self_attn.sinks"): p.normal_(0.0, 1.0, generator=g)
        if pn.endswith("gate_up_proj") or pn.endswith("down_proj"): p.mul_(4.0)   # experts' weights over several binades


def mxfp4(w):
    """[rows, cols] float -> (blocks [rows, cols / 32, 16], scales [rows, cols / 32]) in the checkpoint's layout."""
    rows, cols = w.shape
    q = MXFP4.quantize_blocks(w.reshape(-1, 32).astype(np.float32))          # gguf-py: [n, 1 + 16], qs[j] = v[j] | v[j + 16] << 4
    e, qs = q[:, 0], q[:, 1:]
    nib = np.concatenate([qs & 0x0F, qs >> 4], axis=1)                      # the 32 codes in element order
    packed = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)          # checkpoint: byte k = v[2k] | v[2k + 1] << 4
    return packed.reshape(rows, cols // 32, 16), e.reshape(rows, cols // 32)


sd = {k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}
for i in range(cfg.num_hidden_layers):
    p = f"model.layers.{i}.mlp.experts."
    for name in ("gate_up_proj", "down_proj"):
        w = sd.pop(p + name).numpy()                                         # [experts, in, out]
        b, s = zip(*(mxfp4(np.ascontiguousarray(w[e].T)) for e in range(w.shape[0])))   # rows = outputs
        sd[p + name + "_blocks"] = torch.from_numpy(np.stack(b))
        sd[p + name + "_scales"] = torch.from_numpy(np.stack(s))
save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
cfg.save_pretrained(out)
cj = json.load(open(os.path.join(out, "config.json")))
cj["architectures"] = ["GptOssForCausalLM"]
cj["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                                                   "model.embed_tokens", "lm_head"]}
json.dump(cj, open(os.path.join(out, "config.json"), "w"), indent=2, sort_keys=True)

ref = AutoModelForCausalLM.from_pretrained(out, quantization_config=Mxfp4Config(dequantize=True), dtype=torch.float32).float().eval()
cases = []
for L in (1, 7, 40, 100):
    ids = torch.randint(1, cfg.vocab_size, (L,), generator=g).tolist()
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = ref(x).logits[0]
        gen = ref.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False, pad_token_id=0)[0][L:].tolist()
    cases.append({"prompt_token_ids": ids, "logits": [[round(v, 6) for v in r] for r in logits.tolist()], "greedy_16": gen})
import transformers
json.dump({"architecture": ["GptOssForCausalLM"], "class": "GptOssForCausalLM",
           "reference": f"transformers {transformers.__version__} Mxfp4Config(dequantize=True) torch {torch.__version__} float32",
           "cases": cases}, open(os.path.join(out, "golden.json"), "w"))
json.dump({"reference": "the same greedy continuations (generate with an all-ones mask)", "greedy_16": [c["greedy_16"] for c in cases]},
          open(os.path.join(out, "greedy_unmasked.json"), "w"))
print("ok", {k: list(v.shape) for k, v in sd.items() if "layers.0.mlp" in k})
