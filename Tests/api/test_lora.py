"""Multi-LoRA serving (issue 16) through `folio serve`, driven by the official `openai` client: a PEFT adapter
(Tests/Fixtures/lora/smollm2-r4-attn, made by scripts/make_lora_goldens.py) selected by `"model": <adapter name>`
continues as transformers+peft does, /v1/models lists it with its parent, vLLM's runtime load/unload routes answer
with vLLM's messages and statuses, a request running with an unloaded adapter finishes with it, and concurrent base
and adapter requests each get what they get alone."""
import json, os, shutil, subprocess, tempfile, threading
import pytest
import openai
from test_openai import ROOT, FOLIO, MODEL, serving, raw

ADAPTER = os.path.join(ROOT, "Tests", "Fixtures", "lora", "smollm2-r4-attn")
GOLDEN = json.load(open(os.path.join(ADAPTER, "golden.json")))


@pytest.fixture(scope="module")
def base():
    # --reference: the float32 path, the one transformers+peft's greedy tokens are compared with.
    with serving("--num-kv-blocks", "256", "--reference", "--enable-lora", "--max-loras", "2", "--max-lora-rank", "8",
                 "--lora-modules", f"sql={ADAPTER}", json.dumps({"name": "sql-json", "path": ADAPTER, "base_model_name": "smollm2"}),
                 "--allow-runtime-lora-updating") as b:
        yield b


@pytest.fixture()
def client(base):
    return openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)


def detok(base, ids):
    status, body, _ = raw(base, "/detokenize", {"model": "smol", "tokens": ids})
    assert status == 200, body
    return json.loads(body)["prompt"]


def complete(client, model, ids, n=24):
    r = client.completions.create(model=model, prompt=ids, max_tokens=n, temperature=0)
    assert r.model == model
    return r.choices[0].text


def test_adapter_continues_as_transformers_peft(base, client):
    for c in GOLDEN["cases"]:
        got = complete(client, "sql", c["prompt_token_ids"], n=len(c["greedy"]))
        assert got == detok(base, c["greedy"])
        assert complete(client, "smol", c["prompt_token_ids"], n=len(c["greedy"])) != got  # the adapter matters


def test_models_lists_adapters_with_parent(client):
    models = {m.id: m for m in client.models.list().data}
    assert list(models)[:3] == ["smol", "sql", "sql-json"]
    assert models["sql"].parent == "smol" and models["sql"].root == ADAPTER
    assert models["sql-json"].parent == "smollm2"  # the JSON form's base_model_name
    assert models["smol"].parent is None


def test_chat_with_adapter(client):
    msgs = [{"role": "user", "content": "Name a color."}]
    a = client.chat.completions.create(model="sql", messages=msgs, max_tokens=12, temperature=0)
    b = client.chat.completions.create(model="sql-json", messages=msgs, max_tokens=12, temperature=0)
    base = client.chat.completions.create(model="smol", messages=msgs, max_tokens=12, temperature=0)
    assert a.model == "sql" and a.choices[0].message.content == b.choices[0].message.content
    assert a.choices[0].message.content != base.choices[0].message.content


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="nope", prompt="Hi", max_tokens=2)
    assert "The model `nope` does not exist." in str(e.value)


def test_runtime_load_and_unload(base, client):
    ok = lambda name: f"Success: LoRA adapter '{name}' added successfully."
    assert raw(base, "/v1/load_lora_adapter", {"lora_name": "sql2", "lora_path": ADAPTER})[:2] == (200, ok("sql2"))
    ids = GOLDEN["cases"][0]["prompt_token_ids"]
    assert complete(client, "sql2", ids) == complete(client, "sql", ids)
    status, body, _ = raw(base, "/v1/load_lora_adapter", {"lora_name": "sql2", "lora_path": ADAPTER})
    assert status == 400 and "The lora adapter 'sql2' has already been loaded." in body
    status, body, _ = raw(base, "/v1/load_lora_adapter", {"lora_name": "smol", "lora_path": ADAPTER})
    assert status == 400 and "The lora adapter 'smol' conflicts with a served base model." in body
    status, body, _ = raw(base, "/v1/load_lora_adapter", {"lora_name": "x"})
    assert status == 400 and "Both 'lora_name' and 'lora_path' must be provided." in body
    status, body, _ = raw(base, "/v1/load_lora_adapter", {"lora_name": "gone", "lora_path": "/nonexistent/adapter"})
    assert status == 404 and "Loading lora gone failed: No adapter found for /nonexistent/adapter" in body
    with tempfile.TemporaryDirectory() as d:
        for edit, message in [({"r": 16}, "LoRA rank 16 is greater than max_lora_rank 8."),
                              ({"use_dora": True}, "Folio does not yet support DoRA.")]:
            bad = os.path.join(d, "bad")
            shutil.rmtree(bad, ignore_errors=True)
            shutil.copytree(ADAPTER, bad)
            cfg = json.load(open(os.path.join(bad, "adapter_config.json")))
            cfg.update(edit)
            json.dump(cfg, open(os.path.join(bad, "adapter_config.json"), "w"))
            status, body, _ = raw(base, "/v1/load_lora_adapter", {"lora_name": "bad", "lora_path": bad})
            assert status == 400 and message in body, body
    assert "bad" not in [m.id for m in client.models.list().data]
    assert raw(base, "/v1/unload_lora_adapter", {"lora_name": "sql2"})[:2] == (200, "Success: LoRA adapter 'sql2' removed successfully.")
    status, body, _ = raw(base, "/v1/unload_lora_adapter", {"lora_name": "sql2"})
    assert status == 404 and "The lora adapter 'sql2' cannot be found." in body
    status, body, _ = raw(base, "/v1/unload_lora_adapter", {})
    assert status == 400 and "'lora_name' needs to be provided to unload a LoRA adapter." in body
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="sql2", prompt="Hi", max_tokens=2)


def test_unload_while_running_and_metrics(base, client):
    ids = GOLDEN["cases"][1]["prompt_token_ids"]
    assert raw(base, "/v1/load_lora_adapter", {"lora_name": "tmp", "lora_path": ADAPTER})[0] == 200
    want = client.completions.create(model="tmp", prompt=ids, max_tokens=96, temperature=0,
                                     extra_body={"ignore_eos": True}).choices[0].text
    stream = client.completions.create(model="tmp", prompt=ids, max_tokens=96, temperature=0, stream=True,
                                       extra_body={"ignore_eos": True})
    parts, seen = [], None
    for i, ch in enumerate(stream):
        parts.append(ch.choices[0].text if ch.choices else "")
        if i == 2:  # mid-stream: the adapter is running, then it is unloaded
            seen = [l for l in raw(base, "/metrics")[1].splitlines() if l.startswith("folio:lora_requests_info")]
            assert raw(base, "/v1/unload_lora_adapter", {"lora_name": "tmp"})[0] == 200
    assert "".join(parts) == want  # finished with the adapter it started with
    assert any('running_lora_adapters="tmp"' in l and 'max_lora="2"' in l for l in seen), seen
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="tmp", prompt=ids, max_tokens=2)


def test_concurrent_base_and_adapter_requests(client):
    prompts = [c["prompt_token_ids"] for c in GOLDEN["cases"]]
    jobs = [(m, p) for m in ["smol", "sql"] for p in prompts] * 2
    alone = {(m, i): complete(client, m, p, n=16) for m in ["smol", "sql"] for i, p in enumerate(prompts)}
    got, errors = {}, []

    def run(k, m, p):
        try:
            got[k] = complete(client, m, p, n=16)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=run, args=(k, m, p)) for k, (m, p) in enumerate(jobs)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors
    for k, (m, p) in enumerate(jobs):
        assert got[k] == alone[(m, prompts.index(p))], (m, k)


def test_without_enable_lora_routes_and_flags_fail():
    p = subprocess.run([FOLIO, "serve", "--model", MODEL, "--port", "1", "--lora-modules", f"sql={ADAPTER}"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "--lora-modules requires --enable-lora" in p.stderr, p.stderr
    p = subprocess.run([FOLIO, "serve", "--model", MODEL, "--port", "1", "--enable-lora", "--lora-modules", "sql=/nonexistent/adapter"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Loading lora sql failed: No adapter found for /nonexistent/adapter" in p.stderr, p.stderr
    with serving("--num-kv-blocks", "64") as b:
        assert raw(b, "/v1/load_lora_adapter", {"lora_name": "a", "lora_path": ADAPTER})[0] == 404
        c = openai.OpenAI(base_url=b + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.NotFoundError):
            c.completions.create(model="sql", prompt="Hi", max_tokens=2)
