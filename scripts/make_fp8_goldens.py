#!/usr/bin/env python3
"""Goldens for the fp8 (e4m3fn) KV cache format: float32 -> e4m3 bytes as ml_dtypes (the numpy float8 types JAX
and others use) rounds them, and every byte's value. Usage: pip install ml_dtypes numpy; python3 scripts/make_fp8_goldens.py
writes Tests/Fixtures/quant/fp8_e4m3.json."""
import json, os
import numpy as np
import ml_dtypes

f8 = ml_dtypes.float8_e4m3fn
codes = np.arange(256, dtype=np.uint8)
values = codes.view(f8).astype(np.float32)
finite = np.sort(np.unique(values[np.isfinite(values)]))
rng = np.random.default_rng(20261130)
xs = list(finite)                                   # every representable value
xs += list((finite[:-1] + finite[1:]) / 2)          # every tie: rounds to the even neighbour
xs += list(np.nextafter((finite[:-1] + finite[1:]) / 2, np.float32(np.inf)))  # just above each tie
xs += list(rng.uniform(-448, 448, 500).astype(np.float32))
xs += list((rng.standard_normal(500) * 0.01).astype(np.float32))   # subnormal range
xs = np.array(xs, dtype=np.float32)
xs = xs[np.abs(xs) <= 448]
out = {
    "source": "ml_dtypes %s float8_e4m3fn (round to nearest even)" % ml_dtypes.__version__,
    "inputs": [float(x) for x in xs],
    "bytes": [int(b) for b in xs.astype(f8).view(np.uint8)],
    "decoded": [None if not np.isfinite(v) else float(v) for v in values],
}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "quant", "fp8_e4m3.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, len(out["inputs"]), "inputs")
