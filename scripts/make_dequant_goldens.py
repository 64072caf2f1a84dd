#!/usr/bin/env python3
"""Random GGUF blocks and their float32 values from the reference dequantizers of the `gguf` Python package
(llama.cpp's gguf-py, `gguf.quants.dequantize`; MXFP4 appended last, so the other types' draws are unchanged). Q8_K is not in gguf-py: its value is d * q (ggml's
dequantize_row_q8_K), computed here with numpy.
usage: python scripts/make_dequant_goldens.py Tests/Fixtures/quant/dequant-golden.json   (needs gguf, numpy)"""
import json, sys
import numpy as np
import gguf
from gguf.quants import dequantize
from gguf import GGMLQuantizationType as T

rng = np.random.default_rng(20261128)
# type -> (block bytes, offsets of fp16 scale fields)
LAYOUT = {T.Q4_0: (18, [0]), T.Q4_1: (20, [0, 2]), T.Q5_0: (22, [0]), T.Q5_1: (24, [0, 2]), T.Q8_0: (34, [0]),
          T.Q2_K: (84, [80, 82]), T.Q3_K: (110, [108]), T.Q4_K: (144, [0, 2]), T.Q5_K: (176, [0, 2]),
          T.Q6_K: (210, [208]), T.IQ4_NL: (18, [0]), T.IQ4_XS: (136, [0])}
out = {"reference": f"gguf-py {gguf.__version__ if hasattr(gguf, '__version__') else ''} gguf.quants.dequantize", "cases": []}
NB = 8
for t, (size, f16) in LAYOUT.items():
    raw = rng.integers(0, 256, size=(NB, size), dtype=np.uint8)
    for off in f16:  # finite scales
        raw[:, off:off + 2] = np.frombuffer(rng.uniform(-2, 2, NB).astype(np.float16).tobytes(), dtype=np.uint8).reshape(NB, 2)
    vals = dequantize(raw.reshape(-1), t).astype(np.float32).reshape(-1)
    out["cases"].append({"type": t.name, "ggml_type": int(t), "bytes": raw.tobytes().hex(), "values": [float(v) for v in vals]})
# Q8_K: float32 d, int8 qs[256], int16 bsums[16]
raw = rng.integers(0, 256, size=(NB, 292), dtype=np.uint8)
d = rng.uniform(-0.1, 0.1, NB).astype(np.float32)
raw[:, 0:4] = np.frombuffer(d.tobytes(), dtype=np.uint8).reshape(NB, 4)
qs = raw[:, 4:260].view(np.int8).astype(np.float32)
out["cases"].append({"type": "Q8_K", "ggml_type": 15, "bytes": raw.tobytes().hex(),
                     "values": [float(v) for v in (d[:, None] * qs).astype(np.float32).reshape(-1)]})
for t, dt in ((T.F16, np.float16), (T.BF16, None)):
    if dt is not None:
        x = rng.uniform(-100, 100, 256).astype(np.float16); b = x.tobytes(); vals = x.astype(np.float32)
    else:
        x = rng.uniform(-100, 100, 256).astype(np.float32)
        bits = (x.view(np.uint32) >> 16).astype(np.uint16); b = bits.tobytes()
        vals = dequantize(np.frombuffer(b, dtype=np.uint8), t).astype(np.float32).reshape(-1)
    out["cases"].append({"type": t.name, "ggml_type": int(t), "bytes": b.hex(), "values": [float(v) for v in vals]})
# MXFP4 (GPT-OSS): an E8M0 exponent byte (kept in [118, 134]: scales 2^-10 .. 2^6) and 16 bytes of e2m1 nibbles.
raw = rng.integers(0, 256, size=(NB, 17), dtype=np.uint8)
raw[:, 0] = rng.integers(118, 135, NB)
vals = dequantize(raw.reshape(-1), T.MXFP4).astype(np.float32).reshape(-1)
out["cases"].append({"type": "MXFP4", "ggml_type": int(T.MXFP4), "bytes": raw.tobytes().hex(), "values": [float(v) for v in vals]})
json.dump(out, open(sys.argv[1], "w"))
print("wrote", len(out["cases"]), "types")
