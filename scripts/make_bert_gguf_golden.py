#!/usr/bin/env python3
"""A tiny random BERT as llama.cpp's converter writes it (GGUF `bert`), with sentence-transformers' embeddings.

usage: make_bert_gguf_golden.py MINILM_DIR LLAMA_CPP_DIR OUT_DIR
  MINILM_DIR: models/all-minilm-l6-v2 (its tokenizer is reused: 30,522 WordPiece ids, uncased)
  LLAMA_CPP_DIR: a llama.cpp source tree with convert_hf_to_gguf.py (the peers' llama-cpp-python 0.3.36 vendor copy)
Writes OUT_DIR/tiny-bert-f16.gguf (hidden 32, 2 layers, 2 heads, weights drawn as float16 values so the F16 file holds
them exactly; mean pooling) and OUT_DIR/tiny-bert.f32: SentenceTransformer.encode(texts.json) of the same model in
float32 with mean pooling and Normalize, [100, 32] little-endian float32 (truncated at 128 tokens).
"""
import json, os, shutil, subprocess, sys, tempfile

import numpy as np
import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertModel

minilm, llama, out = sys.argv[1], sys.argv[2], sys.argv[3]
texts = json.load(open(os.path.join(out, "texts.json")))
tmp = tempfile.mkdtemp()
hf = os.path.join(tmp, "tiny-bert")
cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12)
torch.manual_seed(3)
g = torch.Generator().manual_seed(5)
m = BertModel(cfg, add_pooling_layer=False).eval()
with torch.no_grad():
    for n, p in m.named_parameters():
        p.normal_(0.0, 0.1, generator=g)
        if "LayerNorm.weight" in n: p.add_(1.0)
        p.copy_(p.half().float())   # values float16 holds exactly
m.save_pretrained(hf, safe_serialization=True)
for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(os.path.join(minilm, f), hf)
gguf = os.path.join(out, "tiny-bert-f16.gguf")
subprocess.run([sys.executable, os.path.join(llama, "convert_hf_to_gguf.py"), hf, "--outfile", gguf, "--outtype", "f16"], check=True)
word = models.Transformer(hf, max_seq_length=128)
st = SentenceTransformer(modules=[word, models.Pooling(32, pooling_mode="mean"), models.Normalize()], device="cpu")
e = st.encode(texts, batch_size=32, convert_to_numpy=True).astype("<f4")
e.tofile(os.path.join(out, "tiny-bert.f32"))
ids = [st.tokenizer(t, truncation=True, max_length=128)["input_ids"] for t in texts]
json.dump({"max_seq_length": 128, "ids": ids}, open(os.path.join(out, "tiny-bert.json"), "w"))
print("tiny-bert", e.shape, os.path.getsize(gguf), "bytes")
shutil.rmtree(tmp)
