"""The CLI on a checkpoint without tokenizer.json (vLLM's skip_tokenizer_init): token ids in and out."""
import json, os, subprocess, sys
from test_openai import FOLIO, ROOT
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from grammar_common import fnv  # noqa: E402

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


def test_grammar_mask_walks_equal_xgrammar():
    """`folio grammar mask --each-step` along xgrammar's recorded walks: the same allowed set after every prefix."""
    smol = os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf")
    golden = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "grammar", "xgrammar-walks.json")))
    picked = [c for c in golden["cases"] if (c["kind"], c["name"], c["seed"]) in
              {("regex", "date", 1), ("choice", "colors", 1), ("json", "person", 1), ("grammar", "sql", 2)}]
    assert len(picked) == 4
    for c in picked:
        args = ["grammar", "mask", "--model", smol, "--each-step"]
        if c["kind"] == "json":
            path = os.path.join(ROOT, ".build", "grammar-cli-schema.json")
            json.dump(c["spec"], open(path, "w"))
            args += ["--json-schema", path]
        elif c["kind"] == "regex":
            args += ["--regex", c["spec"]]
        elif c["kind"] == "choice":
            args += ["--choice", ",".join(c["spec"])]
        else:
            path = os.path.join(ROOT, ".build", "grammar-cli.ebnf")
            open(path, "w").write(c["spec"])
            args += ["--grammar", path]
        tokens = c["tokens"][:60]
        if tokens:
            args += ["--prefix-token-ids", ",".join(map(str, tokens))]
        r = folio(*args)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        assert len(lines) == len(tokens) + 1
        for k, (line, step) in enumerate(zip(lines, c["steps"])):
            assert (len(line["allowed"]), fnv(line["allowed"])) == (step["n"], step["h"]), (c["name"], k)
            assert line["accepting"] == (2 in line["allowed"])
    # A prefix the grammar refuses is an error naming the token.
    r = folio("grammar", "mask", "--model", smol, "--regex", "[0-9]+", "--prefix", "12a")
    assert r.returncode == 1 and "is not allowed by the grammar" in r.stderr
    r = folio("grammar", "mask", "--model", smol, "--regex", "(?=x)")
    assert r.returncode == 1 and "regex at 2: lookahead is not supported" in r.stderr


def test_parse_equals_vllm_and_streams_add_up(tmp_path):
    """`folio parse` on corpus cases: vLLM's result (Tests/Fixtures/tools/parsers.json, scripts/make_tool_parser_goldens.py);
    with --stream, SmolLM2's tokens (tags split into pieces) reassemble to the same message."""
    corpus = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "tools", "parsers.json")))
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(corpus["tools"]))
    smol = os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf")
    names = ["hermes/two_calls", "hermes/text_before", "qwen3_xml/typed", "pythonic/literals", "llama3_json/two_semicolon",
             "deepseek_v3/two", "deepseek_r1/newlines", "qwen3/tool_call_ends_reasoning"]
    for case in (c for c in corpus["cases"] if c["name"] in names):
        f = tmp_path / "out.txt"
        f.write_text(case["text"])
        flag = "--tool-call-parser" if case["kind"] == "tool" else "--reasoning-parser"
        r = folio("parse", flag, case["parser"], "--text-file", str(f), "--tools-file", str(tools), "--model", smol, "--stream")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        e = case["expected"]
        if case["kind"] == "tool":
            assert out["content"] == e["content"] and [[c["name"], c["arguments"]] for c in out["tool_calls"]] == \
                [[c["name"], c["arguments"]] for c in e["tool_calls"]], case["name"]
        else:
            assert (out["reasoning"], out["content"]) == (e["reasoning"], e["content"]), case["name"]
        assert out["streamed"] == {k: out[k] for k in ("content", "reasoning", "tool_calls")}, case["name"]
        # JSON arguments stream in fragments; pythonic calls and qwen3_xml arguments are sent whole.
        assert len(out["deltas"]) >= (8 if case["parser"] == "hermes" else 1)
    r = folio("parse", "--tool-call-parser", "nope", "--text-file", str(f))
    assert r.returncode == 1 and "unknown parser nope; choose from" in r.stderr


def test_generate_and_logits_with_lora():
    """`--lora` on the single-sequence CLI: transformers+peft's greedy tokens and argmax (make_lora_goldens.py)."""
    adapter = os.path.join(ROOT, "Tests", "Fixtures", "lora", "phi3-r8-fused")
    golden = json.load(open(os.path.join(adapter, "golden.json")))["cases"][1]
    model = os.path.join(ROOT, "Tests", "Fixtures", "models", "hf-tiny", "phi3")
    ids = ",".join(map(str, golden["prompt_token_ids"]))
    r = folio("generate", "--model", model, "--prompt-token-ids", ids, "--max-tokens", "16", "--ignore-eos", "--json", "--lora", adapter)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["token_ids"] == golden["greedy"]
    r = folio("logits", "--model", model, "--token-ids", ids, "--top", "1", "--lora", adapter)
    assert r.returncode == 0, r.stderr
    assert [row[0] for row in json.loads(r.stdout)["top_ids"]] == golden["argmax"]
    r = folio("generate", "--model", model, "--prompt-token-ids", ids, "--lora", "/nonexistent/adapter")
    assert r.returncode == 1 and "/nonexistent/adapter: no such adapter directory" in r.stderr, r.stderr


def test_inspect_lists_config_keys_folio_does_not_read(tmp_path):
    """A key no family reads (or another family's) is named by `folio inspect`, so an ignored flag is visible."""
    import shutil
    shutil.copy(os.path.join(TINY, "model.safetensors"), tmp_path / "model.safetensors")
    cfg = json.load(open(os.path.join(TINY, "config.json")))
    r = folio("inspect", TINY)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unread_config_keys"] == [] and json.loads(r.stdout)["family"] == "llama"
    cfg.update({"fancy_new_attention": True, "kv_lora_rank": 64})   # unknown; DeepSeek's, not Llama's
    json.dump(cfg, open(tmp_path / "config.json", "w"))
    r = folio("inspect", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["unread_config_keys"] == ["fancy_new_attention", "kv_lora_rank"]
