#!/usr/bin/env python3
"""A DeepSeek V2/V3 or GPT-OSS checkpoint without a tokenizer as llama.cpp's converter writes it (GGUF `deepseek2`:
the key/value up-projection split into attn_k_b (transposed, per head) and attn_v_b, experts merged into 3-D tensors,
the routing in the metadata; GGUF `gpt-oss`: fused experts split into gate/up/down with biases, sinks). The
converter's set_vocab is replaced by a placeholder vocabulary of vocab_size tokens (tests and benchmarks feed token
ids); everything else is the converter's own code.

usage: make_gguf_without_tokenizer.py LLAMA_CPP_DIR HF_DIR OUT.gguf [f32|f16|bf16|q8_0]
  LLAMA_CPP_DIR: a llama.cpp source tree with convert_hf_to_gguf.py and conversion/ (the peers' llama-cpp-python
  0.3.36 vendor copy).
Made with it: Tests/Fixtures/models/hf-tiny/deepseek-v2/deepseek-v2-f32.gguf, deepseek-v3/deepseek-v3-f32.gguf and
gpt-oss/gpt-oss-f32.gguf (HF_DIR the tiny models of scripts/make_tiny_goldens.py, f32; the tests compare them with the
same transformers goldens), and Benchmarks/deepseek.sh's model.
"""
import importlib.util, os, sys

llama, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
outtype = sys.argv[4] if len(sys.argv) > 4 else "f32"
sys.path.insert(0, llama)
sys.path.insert(0, os.path.join(llama, "gguf-py"))
spec = importlib.util.spec_from_file_location("convert_hf_to_gguf", os.path.join(llama, "convert_hf_to_gguf.py"))
conv = importlib.util.module_from_spec(spec)
sys.modules["convert_hf_to_gguf"] = conv
spec.loader.exec_module(conv)
import gguf  # noqa: E402  (the tree's gguf-py, as the converter uses)
from conversion import deepseek, gpt_oss  # noqa: E402


def placeholder_vocab(self):
    # GPT-2's 256 byte tokens (llama.cpp's BPE vocabulary needs a newline token and at least one merge), then
    # placeholders up to vocab_size.
    n = self.hparams["vocab_size"]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs, k = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    byte_tokens = [chr(c) for _, c in sorted(zip(bs, cs))]
    tokens = (byte_tokens + [f"<t{i}>" for i in range(256, n)])[:n]
    self.gguf_writer.add_tokenizer_model("gpt2")
    self.gguf_writer.add_tokenizer_pre("default")
    self.gguf_writer.add_token_list(tokens)
    self.gguf_writer.add_token_types([gguf.TokenType.NORMAL] * n)
    self.gguf_writer.add_token_merges(["\u0120 t"])


deepseek.DeepseekV2Model.set_vocab = placeholder_vocab
gpt_oss.GptOssModel.set_vocab = placeholder_vocab
sys.argv = ["convert_hf_to_gguf.py", src, "--outfile", dst, "--outtype", outtype]
conv.main()
