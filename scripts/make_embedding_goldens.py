#!/usr/bin/env python3
"""Embedding goldens from sentence-transformers (Tests/Fixtures/embeddings).

usage: make_embedding_goldens.py MINILM_DIR OUT_DIR
  MINILM_DIR: all-MiniLM-L6-v2 as scripts/fetch-models.sh --all unpacks it (models/all-minilm-l6-v2)
Writes:
  texts.json                 100 texts of mixed lengths (1-300 words; accents, CJK, emoji, digits, punctuation)
  minilm.json                the model's tokenizer's ids per text (truncated at max_seq_length 256, as encode does)
  minilm.f32                 SentenceTransformer.encode(texts) for all-MiniLM-L6-v2: [100, 384] little-endian float32
  tiny-qwen3-embed/          a random Qwen3 decoder embedding model in Sentence-Transformers layout: last-token
                             pooling, Normalize, a byte-level BPE tokenizer (512 ids) trained here that appends
                             <|endoftext|> (as Qwen3-Embedding's does), max_seq_length 128, is_matryoshka
  tiny-qwen3-embed.f32       its encode(texts): [100, 64]
  tiny-qwen3-embed-d32.f32   the same cut to 32 dimensions and normalized again (vLLM's `dimensions`: cut, then
                             normalize; sentence-transformers' truncate_dim does not normalize again)
Needs sentence-transformers, transformers, torch, tokenizers (the peers' venv).
"""
import json, os, random, sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, processors
from transformers import Qwen3Config, Qwen3Model

minilm_dir, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

rng = random.Random(20261201)
WORDS = ("the of and to in is was for on that with as by at from it an be this are which or have one had not but what all "
         "were when we there can more if no out so said up its about into than them only other new some could time these "
         "model embedding vector search query document retrieval cosine similarity token sentence paragraph engine server "
         "Folio vLLM llama.cpp Swift Python CPU GPU AVX-512 cache KV attention layer").split()
EXTRA = ["café", "naïve", "Zürich", "São Paulo", "中文", "日本語のテキスト", "한국어", "😀", "🚀", "42", "3.14159", "2026-12-01",
         "e-mail", "don't", "U.S.A.", "(parentheses)", "\"quoted\"", "C++", "x86_64", "ÀÉÎÕÜ", "ß", "Ωmega", "—", "…"]
LENGTHS = [1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300]
texts = []
for i in range(100):
    n = LENGTHS[i % len(LENGTHS)] if i < 88 else rng.choice(LENGTHS)
    ws = [rng.choice(EXTRA) if rng.random() < 0.12 else rng.choice(WORDS) for _ in range(n)]
    t = " ".join(ws)
    if rng.random() < 0.5: t = t[:1].upper() + t[1:] + rng.choice([".", "?", "!", ""])
    texts.append(t)
texts[0] = "Hello world"
texts[1] = "a"
json.dump(texts, open(os.path.join(out, "texts.json"), "w"), ensure_ascii=False, indent=0)

m = SentenceTransformer(minilm_dir, device="cpu")
e = m.encode(texts, batch_size=32, convert_to_numpy=True).astype("<f4")
e.tofile(os.path.join(out, "minilm.f32"))
tok = m.tokenizer
ids = [tok(t, truncation=True, max_length=m.max_seq_length)["input_ids"] for t in texts]
json.dump({"max_seq_length": m.max_seq_length, "ids": ids,
           "reference": f"sentence-transformers {__import__('sentence_transformers').__version__}, "
                        f"transformers {__import__('transformers').__version__}, torch {torch.__version__}"},
          open(os.path.join(out, "minilm.json"), "w"))
print("minilm", e.shape, "longest", max(map(len, ids)))

# A tiny decoder embedding model.
d = os.path.join(out, "tiny-qwen3-embed")
os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
bpe.train_from_iterator(texts * 3, trainer)
eot = bpe.token_to_id("<|endoftext|>")
bpe.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)])
bpe.save(os.path.join(d, "tokenizer.json"))
json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
           "model_max_length": 128, "padding_side": "right"}, open(os.path.join(d, "tokenizer_config.json"), "w"))
vocab = bpe.get_vocab_size()
cfg = Qwen3Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=512, tie_word_embeddings=True)
cfg.architectures = ["Qwen3ForCausalLM"]
torch.manual_seed(7)
g = torch.Generator().manual_seed(11)
base = Qwen3Model(cfg).eval()
with torch.no_grad():
    for p in base.parameters():
        p.normal_(0.0, 0.08, generator=g)
        if p.dim() == 1 and p.numel() in (cfg.hidden_size, cfg.head_dim): p.add_(1.0)
# Saved as a causal LM checkpoint (model.* names, as Qwen3-Embedding's), lm_head tied to the embeddings.
from transformers import Qwen3ForCausalLM
lm = Qwen3ForCausalLM(cfg).eval()
lm.model.load_state_dict(base.state_dict())
lm.tie_weights()
lm.save_pretrained(d, safe_serialization=True)
c = json.load(open(os.path.join(d, "config.json")))
c["is_matryoshka"] = True
json.dump(c, open(os.path.join(d, "config.json"), "w"), indent=2)
json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
          open(os.path.join(d, "modules.json"), "w"), indent=2)
json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
           "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
           "pooling_mode_lasttoken": True, "include_prompt": True}, open(os.path.join(d, "1_Pooling", "config.json"), "w"), indent=2)
json.dump({"max_seq_length": 128, "do_lower_case": False}, open(os.path.join(d, "sentence_bert_config.json"), "w"))
for f in ("generation_config.json",):
    if os.path.exists(os.path.join(d, f)): os.remove(os.path.join(d, f))

t = SentenceTransformer(d, device="cpu")
assert t.max_seq_length == 128, t.max_seq_length
te = t.encode(texts, batch_size=16, convert_to_numpy=True).astype("<f4")
te.tofile(os.path.join(out, "tiny-qwen3-embed.f32"))
cut = te[:, :32].astype(np.float64)
cut = (cut / np.linalg.norm(cut, axis=1, keepdims=True)).astype("<f4")
cut.tofile(os.path.join(out, "tiny-qwen3-embed-d32.f32"))
tids = [t.tokenizer(x, truncation=True, max_length=128)["input_ids"] for x in texts]
json.dump({"max_seq_length": 128, "ids": tids}, open(os.path.join(out, "tiny-qwen3-embed.json"), "w"))
print("tiny-qwen3-embed", te.shape, "vocab", vocab, "longest", max(map(len, tids)))
