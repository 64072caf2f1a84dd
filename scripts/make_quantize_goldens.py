#!/usr/bin/env python3
"""Float32 rows and their Q8_0 / Q4_0 blocks from the reference quantizers of the `gguf` Python package
(llama.cpp's gguf-py, `gguf.quants.quantize`), for Folio's load-time quantization (--quantization).
Rows mix normal values, exact rounding ties, zeros and an all-zero block.
usage: python scripts/make_quantize_goldens.py Tests/Fixtures/quant/quantize-golden.json   (needs gguf, numpy)"""
import json, sys
import numpy as np
from gguf.quants import quantize
from gguf import GGMLQuantizationType as T

rng = np.random.default_rng(20261128)
x = rng.normal(0, 1, size=(4, 128)).astype(np.float32)
x[1, :32] = np.arange(-16, 16, dtype=np.float32) * 0.5   # rounding ties after scaling
x[2, 32:64] = 0                                          # an all-zero block
x[3] *= 40
out = {"reference": "gguf-py gguf.quants.quantize", "cols": 128, "values": [float(v) for v in x.reshape(-1)], "cases": []}
for t in (T.Q8_0, T.Q4_0):
    out["cases"].append({"type": t.name, "ggml_type": int(t), "bytes": quantize(x, t).tobytes().hex()})
json.dump(out, open(sys.argv[1], "w"), indent=1)
