"""Structured outputs, side by side with xgrammar (the engine vLLM uses by default), same machine, same run.

1. Per-step token-mask time and grammar compile time: for every schema of Tests/Fixtures/grammar/schemas.json a
   seeded random walk of up to STEPS tokens is taken with xgrammar's GrammarMatcher over SmolLM2's vocabulary (timing
   fill_next_token_bitmask at each step, and compile_json_schema with its cache off), then `folio bench grammar` times
   Folio's mask at exactly the same steps (cold: a fresh compile whose mask cache fills as states are met; warm: the
   same grammar again, as the next request with that schema sees it).
2. Throughput: `folio bench structured`: 32 concurrent JSON-schema requests vs the same requests unconstrained with
   the same output lengths (greedy), medians of REPS.

    python3 Benchmarks/structured_outputs.py [models/smollm2-135m-instruct-q4_1.gguf]
Env: STEPS (64), REPS (3), SKIP_THROUGHPUT=1, WALKS_OUT=path (keep the walks file). Appends a line to Benchmarks/results/structured-<date>.jsonl.
"""
import json, os, random, statistics, subprocess, sys, tempfile, time
import numpy as np
import xgrammar as xgr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf")
FOLIO = os.environ.get("FOLIO_BIN", os.path.join(ROOT, ".build", "release", "folio"))
SCHEMAS = os.path.join(ROOT, "Tests", "Fixtures", "grammar", "schemas.json")
STEPS, REPS = int(os.environ.get("STEPS", 64)), int(os.environ.get("REPS", 3))
STOP = [0, 2]
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from grammar_common import vocab_from_gguf  # noqa: E402


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main():
    vocab, _ = vocab_from_gguf(MODEL)
    info = xgr.TokenizerInfo(vocab, vocab_type=xgr.VocabType.BYTE_LEVEL, vocab_size=len(vocab), stop_token_ids=STOP)
    schemas = json.load(open(SCHEMAS))
    compile_ms, mask_us, walks = [], [], []
    bm = xgr.allocate_token_bitmask(1, info.vocab_size)
    for i, s in enumerate(schemas):
        comp = xgr.GrammarCompiler(info, max_threads=2, cache_enabled=False)
        t = time.perf_counter()
        cg = comp.compile_json_schema(json.dumps(s), any_whitespace=True)
        compile_ms.append((time.perf_counter() - t) * 1e3)
        m = xgr.GrammarMatcher(cg)
        rng = random.Random(i)
        tokens = []
        for _ in range(STEPS + 1):
            t = time.perf_counter()
            m.fill_next_token_bitmask(bm)
            mask_us.append((time.perf_counter() - t) * 1e6)
            bits = np.unpackbits(bm[0].numpy().view(np.uint8), bitorder="little")[: info.vocab_size]
            allowed = [x for x in np.nonzero(bits)[0].tolist() if x not in STOP]
            if not allowed or len(tokens) == STEPS:
                break
            pick = rng.choice(allowed)
            if not m.accept_token(pick):
                continue  # xgrammar's mask held a token its matcher refuses (see make_grammar_goldens.py)
            tokens.append(pick)
        walks.append({"spec": {"json": s}, "tokens": tokens})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(walks, f)
    folio = json.loads(subprocess.check_output([FOLIO, "bench", "grammar", "--model", MODEL, "--walks", f.name]))
    if os.environ.get("WALKS_OUT"):
        os.replace(f.name, os.environ["WALKS_OUT"])  # keep the walks (e.g. to profile `folio bench grammar` on them)
    else:
        os.unlink(f.name)
    row = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "model": os.path.basename(MODEL), "schemas": len(schemas), "steps": folio["steps"],
        "xgrammar_version": getattr(xgr, "__version__", "0.2.9"),
        "xgrammar": {"compile_ms_p50": pct(compile_ms, 0.5), "compile_ms_max": max(compile_ms),
                     "mask_us_p50": pct(mask_us, 0.5), "mask_us_p99": pct(mask_us, 0.99)},
        "folio": {k: v for k, v in folio.items() if k != "per_walk"},
    }
    print(json.dumps(row, indent=1))
    if os.environ.get("SKIP_THROUGHPUT") != "1":
        tp = json.loads(subprocess.check_output([FOLIO, "bench", "structured", "--model", MODEL, "--schemas", SCHEMAS, "--num-prompts", "32",
                                                 "--output-len", "128", "--reps", str(REPS), "--json"]))
        row["throughput"] = tp
        print(json.dumps(tp, indent=1))
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "structured-" + time.strftime("%Y%m%d-%H%M") + ".jsonl"), "a") as out:
        out.write(json.dumps(row) + "\n")


main()
