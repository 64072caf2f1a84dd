#!/usr/bin/env python3
"""A DeepSeek-V2-Lite-shaped random model of ~1.2B parameters (MLA with q_lora_rank 768 (llama.cpp requires one but for 27-layer V2-Lite), kv_lora_rank 512 / rope 64 / nope 128 / value
128, 16 heads, YaRN as V2-Lite configures it; 24 routed experts of 704 with 6 per token and 2 shared, a dense first
layer; vocabulary 32,000) for Benchmarks/deepseek.sh: Hugging Face safetensors (bfloat16, transformers' own random
init), which scripts/make_gguf_without_tokenizer.py then converts for llama.cpp and Folio.

usage: make_deepseek_bench_model.py OUT_DIR   (needs torch, transformers; ~5 GB of memory, 2.4 GB on disk)
"""
import json, os, sys, torch
from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

out = sys.argv[1]
cfg = DeepseekV2Config(
    vocab_size=32000, hidden_size=1536, intermediate_size=4096, num_hidden_layers=12, num_attention_heads=16,
    num_key_value_heads=16, q_lora_rank=768, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
    n_routed_experts=24, num_experts_per_tok=6, n_shared_experts=2, moe_intermediate_size=704, first_k_dense_replace=1,
    topk_method="greedy", norm_topk_prob=False, routed_scaling_factor=1.0, max_position_embeddings=8192,
    rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0, "original_max_position_embeddings": 4096,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
    tie_word_embeddings=False, bos_token_id=0, eos_token_id=1)
torch.manual_seed(0)
m = DeepseekV2ForCausalLM(cfg).to(torch.bfloat16).eval()
print("parameters", sum(p.numel() for p in m.parameters()))
m.save_pretrained(out, safe_serialization=True)
cj = json.load(open(os.path.join(out, "config.json")))
cj["scoring_func"] = "softmax"   # as the released V2 configs
json.dump(cj, open(os.path.join(out, "config.json"), "w"), indent=2, sort_keys=True)
