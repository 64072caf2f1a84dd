#!/usr/bin/env python3
"""Goldens for Folio's model tests, made with Hugging Face transformers (float32, CPU).

1. Tiny random Qwen3-MoE and Phi-3 models, made exactly as ../shared/fixtures/models/make_tiny_hf.py makes the
   others (vocab 512, hidden 64, 3 layers, GQA 8/2, same init), with golden.json (full logits at every position,
   16-token greedy continuation).
2. For every tiny model, `greedy_unmasked.json`: the 16-token greedy continuation with an explicit all-ones
   attention mask. The shared goldens called generate() without one and with pad_token_id=0, so transformers
   inferred attention_mask = (ids != 0) and masked out prompt tokens whose id is 0; a plain causal LM (and
   Folio, vLLM, llama.cpp) attends to every prompt token.

usage: python scripts/make_tiny_goldens.py Tests/Fixtures/models/hf-tiny   (needs torch, transformers, safetensors)
       ONLY=deepseek-v2,deepseek-v3,deepseek-v3-plain-rope then ONLY=gpt-oss python scripts/make_tiny_goldens.py ... (how the DeepSeek
       and GPT-OSS
       models were made; then scripts/make_gguf_without_tokenizer.py LLAMA_CPP_DIR DIR/deepseek-v2 DIR/deepseek-v2/deepseek-v2-f32.gguf,
       and the same for deepseek-v3 and gpt-oss, converts three of them to GGUF)
       ONLY=qwen2-sliding,qwen3-moe-sliding,gemma3-pattern,phi3-partial-rotary python scripts/make_tiny_goldens.py ...
       (the sliding-window rules of each family; partial_rotary_factor, which transformers 5 writes in rope_parameters)
       ONLY=llama-bias,qwen3-bias-gelu python scripts/make_tiny_goldens.py ...   (just those models; the random
       draws then differ from a full run's, so a model is regenerated only with the set it was made with)
"""
import json, os, sys, torch
from transformers import (AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM, Phi3Config, Phi3ForCausalLM, Qwen3Config, Qwen3ForCausalLM,
                          LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Gemma3TextConfig, Gemma3ForCausalLM, DeepseekV2Config, DeepseekV2ForCausalLM,
                          DeepseekV3Config, DeepseekV3ForCausalLM, GptOssConfig, GptOssForCausalLM)

out = sys.argv[1]
common = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
              num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512)
NEW = {
    "qwen3-moe": (Qwen3MoeForCausalLM, Qwen3MoeConfig(**common, head_dim=16, num_experts=4, num_experts_per_tok=2,
                                                      moe_intermediate_size=96, norm_topk_prob=True, decoder_sparse_step=1)),
    "phi3": (Phi3ForCausalLM, Phi3Config(**common, pad_token_id=0, rope_scaling=None, tie_word_embeddings=False)),
    # RoPE scalings other than llama3, a sliding window shorter than the prompts, and Gemma 3's text model
    # (sliding/global layers, (1 + w) norms, query_pre_attn_scalar, GELU-tanh, tied embeddings).
    "llama-yarn": (LlamaForCausalLM, LlamaConfig(**common, rope_theta=10000.0, rope_scaling={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32})),
    "llama-linear": (LlamaForCausalLM, LlamaConfig(**common, rope_theta=10000.0, rope_scaling={"rope_type": "linear", "factor": 2.0})),
    "mistral-sliding": (MistralForCausalLM, MistralConfig(**common, sliding_window=16)),
    "gemma3": (Gemma3ForCausalLM, Gemma3TextConfig(**{**common, "head_dim": 16}, query_pre_attn_scalar=16, sliding_window=16,
               layer_types=["sliding_attention", "sliding_attention", "full_attention"], rope_theta=1000000.0,
               rope_local_base_freq=10000.0, tie_word_embeddings=True)),
    # config.json flags that change the math, one golden each (issue "One file per architecture"): Llama's
    # attention_bias (q/k/v and o_proj), mlp_bias, an explicit head_dim wider than hidden/heads, GeGLU (tanh); Qwen3's
    # attention_bias (o_proj too) with exact-erf gelu; Qwen3-MoE's dense layers.
    "llama-bias": (LlamaForCausalLM, LlamaConfig(**common, attention_bias=True, mlp_bias=True, head_dim=32,
                   hidden_act="gelu_pytorch_tanh", tie_word_embeddings=False)),
    "qwen3-bias-gelu": (Qwen3ForCausalLM, Qwen3Config(**common, head_dim=16, attention_bias=True, hidden_act="gelu")),
    # Qwen3-MoE with dense layers among the sparse ones: mlp_only_layers [0] and decoder_sparse_step 1 (layers 1, 2
    # sparse); and step 2 (only layer 1 sparse).
    "qwen3-moe-dense-layers": (Qwen3MoeForCausalLM, Qwen3MoeConfig(**common, head_dim=16, num_experts=4, num_experts_per_tok=2,
                               moe_intermediate_size=96, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[0])),
    "qwen3-moe-sparse-step": (Qwen3MoeForCausalLM, Qwen3MoeConfig(**common, head_dim=16, num_experts=4, num_experts_per_tok=2,
                              moe_intermediate_size=96, norm_topk_prob=False, decoder_sparse_step=2)),
    # DeepSeek's multi-head latent attention (issue "One file per architecture"): V2 with a q LoRA, YaRN with mscale
    # and mscale_all_dim (the softmax scale's mscale^2), group-limited greedy routing over softmax scores, a shared
    # expert and a dense first layer; V3 with a plain q_proj, sigmoid scores with the correction bias (noaux_tc),
    # normalized top-k and routed_scaling_factor; V3 again with rope_interleave off and no RoPE scaling.
    "deepseek-v2": (DeepseekV2ForCausalLM, DeepseekV2Config(**{**common, "num_key_value_heads": 8}, q_lora_rank=32,
                    kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=24, n_routed_experts=8,
                    num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=48, first_k_dense_replace=1,
                    topk_method="group_limited_greedy", n_group=4, topk_group=2, routed_scaling_factor=1.5,
                    norm_topk_prob=False, rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                    "original_max_position_embeddings": 64, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707,
                    "mscale_all_dim": 0.707})),
    "deepseek-v3": (DeepseekV3ForCausalLM, DeepseekV3Config(**{**common, "num_key_value_heads": 8}, q_lora_rank=None,
                    kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8,
                    num_experts_per_tok=3, n_shared_experts=2, moe_intermediate_size=48, first_k_dense_replace=1,
                    n_group=4, topk_group=2, routed_scaling_factor=2.5, norm_topk_prob=True,
                    rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0,
                    "original_max_position_embeddings": 64, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0,
                    "mscale_all_dim": 1.0})),
    "deepseek-v3-plain-rope": (DeepseekV3ForCausalLM, DeepseekV3Config(**{**common, "num_key_value_heads": 8}, q_lora_rank=24,
                    kv_lora_rank=40, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8, n_routed_experts=4,
                    num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=0,
                    n_group=1, topk_group=1, routed_scaling_factor=1.0, norm_topk_prob=False, rope_interleave=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    # GPT-OSS: attention sinks, sliding and full layers alternating (window shorter than the prompts), q/k/v/o biases,
    # router bias, experts with biases and the clamped SwiGLU, YaRN without truncation.
    "gpt-oss": (GptOssForCausalLM, GptOssConfig(**{**common, "intermediate_size": 48}, head_dim=16, num_local_experts=4,
                num_experts_per_tok=2, sliding_window=16, swiglu_limit=1.5, rope_parameters={"rope_type": "yarn",
                "rope_theta": 150000.0, "factor": 8.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
                "original_max_position_embeddings": 64})),
    # Which layers a config's sliding_window reaches, family by family (as transformers' configs decide it): Qwen2
    # with use_sliding_window from max_window_layers on (layers 1, 2); Qwen3-MoE with use_sliding_window on every
    # layer; Gemma 3 without layer_types by sliding_window_pattern (layers 0 and 2 sliding, 1 full). config.json edits
    # after saving: EDIT below. (Not here: a Llama config with sliding_window, which transformers' forward ignores and
    # its generate() cache applies; Folio, as vLLM, reads a Llama's window from layer_types only.)
    "qwen2-sliding": (Qwen2ForCausalLM, Qwen2Config(**common, use_sliding_window=True, sliding_window=16, max_window_layers=1)),
    "qwen3-moe-sliding": (Qwen3MoeForCausalLM, Qwen3MoeConfig(**common, head_dim=16, num_experts=4, num_experts_per_tok=2,
                          moe_intermediate_size=96, norm_topk_prob=True, use_sliding_window=True, sliding_window=16)),
    "gemma3-pattern": (Gemma3ForCausalLM, Gemma3TextConfig(**{**common, "head_dim": 16}, query_pre_attn_scalar=16, sliding_window=16,
                       sliding_window_pattern=2, rope_theta=1000000.0, rope_local_base_freq=10000.0, tie_word_embeddings=True)),
    # Phi-3 with partial rotary embeddings (Phi-4-mini's 0.75; here half of each head rotates): transformers 5 saves
    # partial_rotary_factor inside rope_parameters.
    "phi3-partial-rotary": (Phi3ForCausalLM, Phi3Config(**common, pad_token_id=0, partial_rotary_factor=0.5, tie_word_embeddings=False)),
}
# Keys set in config.json after saving (transformers writes layer_types itself, and Llama has no sliding_window);
# the golden logits then come from transformers reloading the edited folder, as Folio reads it.
EDIT = {
    "qwen2-sliding": ({}, ["layer_types"]),
    "phi3-partial-rotary": ({}, ["partial_rotary_factor"]),   # in rope_parameters only
    "gemma3-pattern": ({"sliding_window_pattern": 2}, ["layer_types"]),
}
ONLY = os.environ.get("ONLY", "").split(",") if os.environ.get("ONLY") else None   # regenerate just these (names)
torch.manual_seed(1234)
g = torch.Generator().manual_seed(99)


def greedy(m, ids):
    x = torch.tensor([ids])
    return m.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False,
                      pad_token_id=0)[0][len(ids):].tolist()


for name, (cls, cfg) in NEW.items():
    if ONLY and name not in ONLY: continue
    m = cls(cfg).eval()
    with torch.no_grad():  # wider random init so logits are not flat (as make_tiny_hf.py)
        for pn, p in m.named_parameters():
            if p.dim() >= 1: p.normal_(0.0, 0.08, generator=g)
            if p.dim() == 1 and (p.numel() == cfg.hidden_size or pn.endswith("a_layernorm.weight")) and not name.startswith("gemma"): p.add_(1.0)
            if pn.endswith("self_attn.sinks"): p.normal_(0.0, 1.0, generator=g)   # GPT-OSS's sinks: logit-sized
        for bn, b in m.named_buffers():  # DeepSeek V3's routing correction bias (zeros at init)
            if bn.endswith("e_score_correction_bias"): b.normal_(0.0, 0.1, generator=g)
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    m.save_pretrained(d, safe_serialization=True)
    if name.startswith("deepseek"):
        # The released DeepSeek configs name their routing (transformers hard-codes it per version and does not write
        # these keys; vLLM and llama.cpp's converter read them): V2 softmax scores, V3 sigmoid with noaux_tc.
        cj = json.load(open(os.path.join(d, "config.json")))
        cj.update({"scoring_func": "sigmoid", "topk_method": "noaux_tc"} if "v3" in name else {"scoring_func": "softmax"})
        json.dump(cj, open(os.path.join(d, "config.json"), "w"), indent=2, sort_keys=True)
    if name in EDIT:
        cj = json.load(open(os.path.join(d, "config.json")))
        cj.update(EDIT[name][0])
        for k in EDIT[name][1]: cj.pop(k, None)
        json.dump(cj, open(os.path.join(d, "config.json"), "w"), indent=2, sort_keys=True)
        m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        if name == "qwen2-sliding": assert m.config.layer_types == ["full_attention", "sliding_attention", "sliding_attention"], m.config.layer_types
        if name == "gemma3-pattern": assert m.config.layer_types == ["sliding_attention", "full_attention", "sliding_attention"], m.config.layer_types
    cases = []
    for L in (1, 7, 40, 100):
        ids = torch.randint(1, cfg.vocab_size, (L,), generator=g).tolist()  # no pad id in the prompt
        with torch.no_grad():
            logits = m(torch.tensor([ids])).logits[0]
            gen = greedy(m, ids)
        cases.append({"prompt_token_ids": ids, "logits": [[round(x, 6) for x in r] for r in logits.tolist()], "greedy_16": gen})
    json.dump({"architecture": cfg.architectures or cls.__name__, "class": cls.__name__,
               "reference": f"transformers {__import__('transformers').__version__} torch {torch.__version__} float32",
               "cases": cases}, open(os.path.join(d, "golden.json"), "w"))
    print(name, "ok", os.path.getsize(os.path.join(d, "model.safetensors")))

for name in sorted(os.listdir(out)):
    if ONLY and name not in ONLY: continue
    d = os.path.join(out, name)
    if not os.path.exists(os.path.join(d, "golden.json")): continue
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    gold = json.load(open(os.path.join(d, "golden.json")))
    with torch.no_grad():
        res = [greedy(m, c["prompt_token_ids"]) for c in gold["cases"]]
    json.dump({"reference": f"transformers {__import__('transformers').__version__} generate(attention_mask=ones)",
               "greedy_16": res}, open(os.path.join(d, "greedy_unmasked.json"), "w"))
    print(name, "unmasked", [r[:3] for r in res])
