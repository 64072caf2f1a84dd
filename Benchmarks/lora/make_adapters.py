#!/usr/bin/env python3
"""PEFT LoRA adapters on SmolLM2 for the multi-LoRA benchmark: every q/k/v/o/gate/up/down projection, nonzero
random lora_B (init_lora_weights=False), one adapter per rank.
usage: make_adapters.py HF_MODEL_DIR OUT_DIR RANK [RANK ...]   (needs torch, transformers, peft; the peers' venv)"""
import os, sys
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

src, out, ranks = sys.argv[1], sys.argv[2], [int(r) for r in sys.argv[3:]]
for r in ranks:
    torch.manual_seed(r)
    base = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    m = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, init_lora_weights=False,
                                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    d = os.path.join(out, f"smollm2-r{r}")
    m.save_pretrained(d)
    print(d, os.path.getsize(os.path.join(d, "adapter_model.safetensors")) >> 20, "MiB")
