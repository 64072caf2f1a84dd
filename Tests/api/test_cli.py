"""The CLI on a checkpoint without tokenizer.json (vLLM's skip_tokenizer_init): token ids in and out."""
import json, os, subprocess
from test_openai import FOLIO, ROOT

TINY = os.path.join(ROOT, "Tests", "Fixtures", "models", "hf-tiny", "llama")


def folio(*args):
    return subprocess.run([FOLIO, *args], capture_output=True, text=True, timeout=120)


def test_generate_and_logits_without_tokenizer():
    golden = json.load(open(os.path.join(TINY, "golden.json")))["cases"][0]  # transformers' greedy (make_tiny_goldens.py)
    ids = ",".join(map(str, golden["prompt_token_ids"]))
    r = folio("generate", "--model", TINY, "--prompt-token-ids", ids, "--max-tokens", "16", "--ignore-eos", "--reference", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["token_ids"] == golden["greedy_16"] and out["text"] is None and out["finish_reason"] == "length"
    r = folio("logits", "--model", TINY, "--token-ids", ids, "--top", "1", "--reference")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["top_ids"][0][0] == golden["greedy_16"][0]
    # Text still needs a tokenizer, and says so; huge and out-of-vocabulary values are clear errors.
    r = folio("generate", "--model", TINY, "--prompt", "hi")
    assert r.returncode == 1 and "missing tokenizer.json" in r.stderr
    r = folio("generate", "--model", TINY, "--prompt-token-ids", "99999", "--max-tokens", "2")
    assert r.returncode == 1 and "token id 99999 is outside the vocabulary (512)" in r.stderr
    r = folio("generate", "--model", TINY, "--prompt-token-ids", ids, "--max-tokens", str(2**63 - 1), "--ignore-eos", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["finish_reason"] == "length"
