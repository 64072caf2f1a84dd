"""Embeddings (issue 17) through `folio serve`, driven by the official `openai` client: all-MiniLM-L6-v2 (an encoder,
served as an embedding model without flags) and a tiny random Qwen3 decoder embedding model (`--runner pooling`)
give sentence-transformers' embeddings (Tests/Fixtures/embeddings, made by scripts/make_embedding_goldens.py) for
every input form and encoding; vLLM's messages for dimensions, lengths and truncation; 501 for the generation routes."""
import array, base64, json, math, os, subprocess
import pytest
import openai
from test_openai import ROOT, FOLIO, raw, serving

FIX = os.path.join(ROOT, "Tests", "Fixtures", "embeddings")
MINILM = os.path.join(ROOT, "models", "all-minilm-l6-v2")
TINY = os.path.join(FIX, "tiny-qwen3-embed")
TEXTS = json.load(open(os.path.join(FIX, "texts.json")))
COS = 0.99999  # the README's bound: cosine similarity to sentence-transformers' embedding, per text


def golden(name, width):
    a = array.array("f")
    with open(os.path.join(FIX, name), "rb") as f:
        a.frombytes(f.read())
    return [list(a[i:i + width]) for i in range(0, len(a), width)]


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture(scope="module")
def minilm():
    if not os.path.isdir(MINILM):
        pytest.skip("all-MiniLM-L6-v2 is not fetched (scripts/fetch-models.sh --all)")
    with serving(model=MINILM, name="minilm") as b:
        yield b


@pytest.fixture(scope="module")
def tiny():
    with serving("--runner", "pooling", model=TINY, name="tiny") as b:
        yield b


def client(base):
    return openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0)


def test_minilm_matches_sentence_transformers(minilm):
    c, ref = client(minilm), golden("minilm.f32", 384)
    # The client's default encoding (base64), 100 texts in one request, longer ones cut at 256 tokens as
    # sentence-transformers cuts them.
    r = c.embeddings.create(model="minilm", input=TEXTS, extra_body={"truncate_prompt_tokens": -1})
    assert [d.index for d in r.data] == list(range(100)) and r.model == "minilm"
    sims = [cos(d.embedding, ref[i]) for i, d in enumerate(r.data)]
    assert min(sims) >= COS, min(sims)
    ids = json.load(open(os.path.join(FIX, "minilm.json")))["ids"]
    assert r.usage.prompt_tokens == sum(map(len, ids)) and r.usage.total_tokens == r.usage.prompt_tokens
    # Floats, alone: the same numbers as in the batch (batch invariance).
    for i in (0, 7, 61):
        one = c.embeddings.create(model="minilm", input=TEXTS[i], encoding_format="float", extra_body={"truncate_prompt_tokens": -1})
        assert one.data[0].embedding == pytest.approx(r.data[i].embedding, abs=0, rel=0)


def test_token_id_inputs(minilm):
    ids = json.load(open(os.path.join(FIX, "minilm.json")))["ids"]
    ref = golden("minilm.f32", 384)
    status, body, _ = raw(minilm, "/v1/embeddings", {"model": "minilm", "input": ids[:5]}, key=None)
    assert status == 200, body
    data = json.loads(body)["data"]
    assert all(cos(d["embedding"], ref[i]) >= COS for i, d in enumerate(data))
    status, body, _ = raw(minilm, "/v1/embeddings", {"input": ids[3]}, key=None)  # one list of ids
    assert status == 200 and cos(json.loads(body)["data"][0]["embedding"], ref[3]) >= COS


def test_base64_is_little_endian_float32(minilm):
    status, body, _ = raw(minilm, "/v1/embeddings", {"input": "Hello world", "encoding_format": "base64"}, key=None)
    assert status == 200, body
    a = array.array("f"); a.frombytes(base64.b64decode(json.loads(body)["data"][0]["embedding"]))
    status, body, _ = raw(minilm, "/v1/embeddings", {"input": "Hello world"}, key=None)
    assert list(a) == pytest.approx(json.loads(body)["data"][0]["embedding"], abs=0, rel=0)


def test_vllm_errors(minilm):
    c = client(minilm)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="minilm", input="x", dimensions=8)
    assert "Model 'minilm' does not support Matryoshka embeddings; dimensions must be unset (received dimensions=8)." in str(e.value)
    long = "word " * 300
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="minilm", input=long)
    assert "This model's maximum context length is 256 tokens. However, your prompt contains 302 input tokens" in str(e.value)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="minilm", input="x", extra_body={"truncate_prompt_tokens": 300})
    assert "truncate_prompt_tokens=300 cannot be greater than max_model_len = 256. Please request a smaller truncation size." in str(e.value)
    ok = c.embeddings.create(model="minilm", input=long, extra_body={"truncate_prompt_tokens": 10})
    assert ok.usage.prompt_tokens == 10
    with pytest.raises(openai.NotFoundError) as e:
        c.embeddings.create(model="nope", input="x")
    assert "The model `nope` does not exist." in str(e.value)
    for body, msg in [({"model": "minilm"}, "input is required"), ({"input": []}, "input must not be empty"),
                      ({"input": [1, "a"]}, "input must be a string, a list of strings"),
                      ({"input": [[]]}, "input must not contain an empty list of token ids"),
                      ({"input": [999999]}, "token id 999999 is out of vocabulary (30522)"),
                      ({"input": "a", "encoding_format": "bytes"}, "encoding_format must be \"float\" or \"base64\""),
                      ({"input": ["a"] * 2049}, "input has 2049 items; at most 2048 are allowed")]:
        status, text, _ = raw(minilm, "/v1/embeddings", body, key=None)
        assert status == 400 and msg in json.loads(text)["error"]["message"], (body, text)


def test_generation_routes_are_501(minilm):
    for path, body, api in [("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, "Chat Completions"),
                            ("/v1/completions", {"prompt": "hi"}, "Completions")]:
        status, text, _ = raw(minilm, path, body, key=None)
        err = json.loads(text)["error"]
        assert status == 501 and err["message"] == f"The model does not support {api} API" and err["type"] == "NotImplementedError"
    models = client(minilm).models.list().data
    assert [m.id for m in models] == ["minilm"]
    status, text, _ = raw(minilm, "/metrics", key=None, method="GET")
    assert status == 200 and "folio:prompt_tokens_total" in text and "folio:num_requests_waiting" in text


def test_decoder_embedding_model(tiny):
    c, ref, ref32 = client(tiny), golden("tiny-qwen3-embed.f32", 64), golden("tiny-qwen3-embed-d32.f32", 32)
    r = c.embeddings.create(model="tiny", input=TEXTS, extra_body={"truncate_prompt_tokens": -1})
    assert min(cos(d.embedding, ref[i]) for i, d in enumerate(r.data)) >= COS
    r = c.embeddings.create(model="tiny", input=TEXTS[:20], dimensions=32, extra_body={"truncate_prompt_tokens": -1})
    assert all(len(d.embedding) == 32 and cos(d.embedding, ref32[i]) >= COS for i, d in enumerate(r.data))
    assert all(abs(sum(x * x for x in d.embedding) - 1) < 1e-5 for d in r.data)  # cut, then normalized (vLLM)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="tiny", input="x", dimensions=65)
    assert "Model 'tiny' only supports dimensions in range [1, 64], got 65." in str(e.value)


def test_embed_cli():
    out = subprocess.run([FOLIO, "embed", "--model", TINY, "--text", TEXTS[0], "--text", TEXTS[5]], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)["data"]
    ref = golden("tiny-qwen3-embed.f32", 64)
    assert cos(data[0]["embedding"], ref[0]) >= COS and cos(data[1]["embedding"], ref[5]) >= COS
    bad = subprocess.run([FOLIO, "embed", "--model", TINY, "--text", "x", "--dimensions", "0"], capture_output=True, text=True)
    assert bad.returncode == 1 and "invalid --dimensions: must be in [1, 64]" in bad.stderr
    bad = subprocess.run([FOLIO, "serve", "--model", TINY, "--runner", "pooling", "--enable-lora"], capture_output=True, text=True)
    assert bad.returncode == 1 and "invalid --enable-lora: does not apply to an embedding model (--runner pooling)" in bad.stderr


def test_inspect_encoder(minilm):
    out = subprocess.run([FOLIO, "inspect", MINILM], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert (j["architecture"], j["runner"], j["pooling_type"], j["normalize"], j["embedding_size"], j["max_model_len"]) == \
        ("BertModel", "pooling", "MEAN", True, 384, 256)


def test_bert_gguf_with_pooler_config():
    ref = golden("tiny-bert.f32", 32)
    ids = json.load(open(os.path.join(FIX, "tiny-bert.json")))["ids"]
    with serving("--pooler-config", '{"pooling_type": "MEAN"}', model=os.path.join(FIX, "tiny-bert-f16.gguf"), name="tiny-bert") as b:
        r = client(b).embeddings.create(model="tiny-bert", input=TEXTS[:30], extra_body={"truncate_prompt_tokens": -1})
        assert min(cos(d.embedding, ref[i]) for i, d in enumerate(r.data)) >= COS
        assert r.usage.prompt_tokens == sum(len(x) for x in ids[:30])
