#!/usr/bin/env python3
"""LoRA goldens: PEFT adapters with nonzero random lora_B (init_lora_weights=False) on the tiny Hugging Face models
(Tests/Fixtures/models/hf-tiny) and on SmolLM2 (a float32 checkpoint converted from the GGUF), and transformers+peft's
float32 logits and greedy continuations with each adapter applied.

usage: make_lora_goldens.py OUT_DIR [SMOLLM2_F32_DIR]      (needs torch, transformers, peft, safetensors)
  SMOLLM2_F32_DIR: /work/shared/peers/gguf_to_hf.py models/smollm2-135m-instruct-q4_1.gguf DIR float32
Writes OUT_DIR/<name>/{adapter_config.json, adapter_model.safetensors, golden.json}."""
import json, os, sys
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "Tests", "Fixtures", "models", "hf-tiny")
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]

# name, base, LoraConfig arguments
TINY_CASES = [
    ("llama-r4-qv", "llama", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])),
    ("llama-r16-all-rslora", "llama", dict(r=16, lora_alpha=16, target_modules=ATTN + MLP, use_rslora=True)),
    ("llama-r8-regex", "llama", dict(r=8, lora_alpha=32, target_modules=r".*\.(o_proj|down_proj)")),
    ("llama-r64-pattern", "llama", dict(r=64, lora_alpha=64, target_modules=ATTN + MLP,
                                        rank_pattern={"k_proj": 8}, alpha_pattern={"down_proj": 16})),
    ("qwen2-r8-all", "qwen2", dict(r=8, lora_alpha=16, target_modules=ATTN + MLP)),
    ("phi3-r8-fused", "phi3", dict(r=8, lora_alpha=16, target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])),
    ("gemma3-r16-all", "gemma3", dict(r=16, lora_alpha=8, target_modules=ATTN + MLP)),
    ("qwen3-r4-attn", "qwen3", dict(r=4, lora_alpha=4, target_modules=ATTN)),
]


def make(base, base_name, name, out, args, prompts, seed, full_logits, greedy, half=False):
    torch.manual_seed(seed)
    model = get_peft_model(base, LoraConfig(init_lora_weights=False, **args))
    d = os.path.join(out, name)
    model.save_pretrained(d)
    st = os.path.join(d, "adapter_model.safetensors")
    os.remove(os.path.join(d, "README.md"))  # PEFT's empty model card
    cfg_path = os.path.join(d, "adapter_config.json")
    cfg = json.load(open(cfg_path))
    cfg["base_model_name_or_path"] = base_name  # not this machine's path
    json.dump(cfg, open(cfg_path, "w"), indent=2, sort_keys=True)
    if half:  # stored as float16 (a smaller fixture); the reference then runs those exact values
        save_file({k: v.to(torch.float16).contiguous() for k, v in load_file(st).items()}, st)
    base = model.unload()  # the base model without the adapter's layers
    model = PeftModel.from_pretrained(base, d)
    model.eval()
    cases = []
    for ids in prompts:
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            g = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               max_new_tokens=greedy, do_sample=False, pad_token_id=0)[0][len(ids):].tolist()
        c = {"prompt_token_ids": ids, "argmax": logits.argmax(-1).tolist(), "greedy": g}
        if full_logits:
            c["logits"] = [[round(x, 6) for x in row] for row in logits.tolist()]
        else:
            c["last_logits"] = [round(x, 5) for x in logits[-1].tolist()]
        cases.append(c)
    json.dump({"base": base_name, "lora_config": args,
               "reference": f"transformers {__import__('transformers').__version__} peft {__import__('peft').__version__} "
                            f"torch {torch.__version__} float32", "cases": cases},
              open(os.path.join(d, "golden.json"), "w"))
    print(name, [c["greedy"][:8] for c in cases], file=sys.stderr)
    return model.unload()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    for name, arch, args in TINY_CASES:
        base = AutoModelForCausalLM.from_pretrained(os.path.join(TINY, arch), dtype=torch.float32)
        vocab = base.config.vocab_size
        prompts = [torch.randint(1, vocab, (n,), generator=g).tolist() for n in (7, 19)]
        make(base, f"hf-tiny/{arch}", name, out, args, prompts, seed=len(name), full_logits=True, greedy=16)
    if len(sys.argv) > 2:
        base = AutoModelForCausalLM.from_pretrained(sys.argv[2], dtype=torch.float32)
        # SmolLM2's tokens for "The capital of France is" and a ChatML turn (Tests/Fixtures/models/smollm2-golden.json).
        gold = json.load(open(os.path.join(HERE, "..", "Tests", "Fixtures", "models", "smollm2-golden.json")))
        prompts = [gold["cases"][0]["prompt_token_ids"], gold["cases"][4]["prompt_token_ids"]]
        make(base, "SmolLM2-135M-Instruct (GGUF Q4_1, dequantized)", "smollm2-r4-attn", out, dict(r=4, lora_alpha=8, target_modules=ATTN), prompts, seed=1,
             full_logits=False, greedy=24, half=True)


main()
