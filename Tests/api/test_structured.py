"""Structured outputs end to end (issue 13): `folio serve` with SmolLM2 driven by the official `openai` client.
Every output that finished with `stop` must parse and validate with Python `jsonschema` (JSON Schema), be one of the
choices, or fullmatch the regex. Schemas: Tests/Fixtures/grammar/schemas.json (34, every supported keyword kind)."""
import json, os, re, concurrent.futures as cf
import pytest
import openai
import jsonschema
from test_openai import ROOT, start_server

SCHEMAS = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "grammar", "schemas.json")))


@pytest.fixture(scope="module")
def client():
    proc, base = start_server("--num-kv-blocks", "2048", "--max-num-seqs", "64")
    yield openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=2, timeout=600)  # retries: a pooled keep-alive connection can close as it is reused
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def ask(client, schema, i, max_tokens=160, **kw):
    return client.chat.completions.create(
        model="smol", max_tokens=max_tokens,
        messages=[{"role": "user", "content": f"Reply with a JSON value for this JSON schema: {json.dumps(schema)}"}],
        response_format={"type": "json_schema", "json_schema": {"name": f"s{i}", "schema": schema, "strict": True}}, **kw)


def test_json_schemas_greedy_and_sampled(client):
    """34 schemas x (greedy, temperature 1.0 with two seeds, n=2): every stopped output validates."""
    jobs = []
    for i, s in enumerate(SCHEMAS):
        jobs.append((i, s, dict(temperature=0)))
        for seed in (1, 2):
            jobs.append((i, s, dict(temperature=1.0, seed=seed)))
        jobs.append((i, s, dict(temperature=1.0, seed=7, n=2)))
    with cf.ThreadPoolExecutor(32) as ex:
        results = list(ex.map(lambda j: (j, ask(client, j[1], j[0], **j[2])), jobs))
    stopped = 0
    total = 0
    for (i, s, kw), r in results:
        for ch in r.choices:
            total += 1
            assert ch.finish_reason in ("stop", "length"), (i, kw, ch.finish_reason)
            if ch.finish_reason == "stop":
                stopped += 1
                value = json.loads(ch.message.content)
                jsonschema.validate(value, s, cls=jsonschema.Draft202012Validator,
                                    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    print(f"{stopped} of {total} outputs finished with stop and validate")
    assert stopped >= 0.8 * total


def test_json_object_and_length_cut(client):
    r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "A JSON object about a cat."}],
                                       response_format={"type": "json_object"}, max_tokens=200, temperature=0)
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    # max_tokens ending mid-structure: finish_reason length, the text a prefix of a valid value.
    r = ask(client, SCHEMAS[7], 7, max_tokens=5, temperature=0)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content.lstrip().startswith("{")


def test_choice_regex_grammar(client):
    for seed in range(4):
        r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Pick a fruit."}], max_tokens=10,
                                           temperature=1.0, seed=seed, extra_body={"structured_outputs": {"choice": ["apple", "banana", "cherry pie"]}})
        assert r.choices[0].message.content in ("apple", "banana", "cherry pie")
        assert r.choices[0].finish_reason == "stop"
    for pattern in [r"\(\d{3}\) \d{3}-\d{4}", r"[A-Z][a-z]{2,8} (is|was) [0-9]{1,3}", r"(yes|no)(, because [a-z ]{5,20})?\."]:
        for seed in range(3):
            r = client.completions.create(model="smol", prompt="Answer:", max_tokens=40, temperature=1.0, seed=seed,
                                          extra_body={"structured_outputs": {"regex": pattern}})
            c = r.choices[0]
            if c.finish_reason == "stop":
                assert re.fullmatch(pattern, c.text), (pattern, c.text)
    g = 'root ::= "The answer is " num "."\nnum ::= [1-9] [0-9]{0,2}'
    r = client.completions.create(model="smol", prompt="2+2?", max_tokens=20, temperature=0, extra_body={"structured_outputs": {"grammar": g}})
    assert re.fullmatch(r"The answer is [1-9][0-9]{0,2}\.", r.choices[0].text)
    # vLLM's older field names.
    r = client.completions.create(model="smol", prompt="Color:", max_tokens=5, extra_body={"guided_choice": ["red", "blue"]})
    assert r.choices[0].text in ("red", "blue")


def test_streaming_and_stop_strings(client):
    stream = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "JSON please"}], stream=True,
                                            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMAS[0]}},
                                            max_tokens=120, temperature=0)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    jsonschema.validate(json.loads(text), SCHEMAS[0])
    # A stop string cuts the constrained output where it appears.
    r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "JSON please"}], stop=[":"],
                                       response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMAS[0]}},
                                       max_tokens=120, temperature=0)
    assert r.choices[0].finish_reason == "stop" and ":" not in r.choices[0].message.content


@pytest.mark.parametrize("body, message", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "not": {}}}}},
     'JSON schema: the keyword "not" is not supported'),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format json_schema needs json_schema.schema"),
    ({"response_format": {"type": "xml"}}, "response_format type xml is not supported (text, json_object and json_schema are)"),
    ({"structured_outputs": {"regex": "(a"}}, "regex at 2: missing )"),
    ({"structured_outputs": {"grammar": "root ::= item\nitem ::= \"a\" item2"}}, "EBNF: rule item2 is used but not defined"),
    ({"structured_outputs": {"grammar": "root ::= root \"a\" | \"b\""}}, "Rule root is left-recursive (it can reach itself without reading a character)"),
    ({"structured_outputs": {"choice": []}}, "structured_outputs.choice must be a non-empty list of strings"),
    ({"structured_outputs": {"choice": ["a"], "regex": "b"}}, "You can only use one kind of structured outputs constraint but multiple are specified: choice, regex"),
    ({"structured_outputs": {"json": "{not json"}}, "structured_outputs: the JSON schema is not valid JSON"),
    ({"structured_outputs": {"regex": "(a|b)*a(a|b){20}"}}, "The grammar is too large (over 100000 automaton states)"),
])
def test_bad_specs_are_400s(client, body, message):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "x"}], max_tokens=5, extra_body=body)
    assert e.value.status_code == 400
    assert e.value.body["message"] == message
    # The server is still serving.
    assert client.models.list().data[0].id == "smol"
