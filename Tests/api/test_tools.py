"""Tool calling and reasoning end to end (issue 14): `folio serve` with SmolLM2 driven by the official `openai`
client. SmolLM2's own template ignores tools, so the tool server renders with Qwen2.5's (hermes format,
Tests/Fixtures/tools/qwen2.5-tools.jinja), as users serving a ChatML model with tools do.
- `tool_choice: "required"` and named tools: every call's arguments parse and validate against its tool's schema
  (Python `jsonschema`), over 14 tools, greedy and sampled with several seeds, streamed and not.
- `auto` with the hermes parser: the output is held to a call by a regex (structured outputs), so the parser's
  path is exercised with a real model's tokens; the streamed deltas add up to the whole message.
- A multi-turn exchange with a tool result rendered by the template; `tool_choice: "none"` never returns calls.
- Reasoning (deepseek_r1, qwen3): `reasoning` and `reasoning_content`, streamed as deltas; enable_thinking=false.
- vLLM's 400 messages for bad tools / tool_choice and for choices the server was not started for."""
import json, os, concurrent.futures as cf
import pytest
import openai
import jsonschema
from test_openai import ROOT, serving, raw

TEMPLATE = os.path.join(ROOT, "Tests", "Fixtures", "tools", "qwen2.5-tools.jinja")


def fn(name, params=None, description=""):
    f = {"name": name, "description": description}
    if params is not None:
        f["parameters"] = params
    return {"type": "function", "function": f}


def obj(props, required=None):
    o = {"type": "object", "properties": props}
    if required:
        o["required"] = required
    return o


S = {"type": "string", "maxLength": 24}
TOOLS = [
    fn("get_weather", obj({"city": S, "unit": {"type": "string", "enum": ["c", "f"]}}, ["city"]), "Current weather in a city"),
    fn("add", obj({"a": {"type": "integer"}, "b": {"type": "number"}}, ["a", "b"]), "Add two numbers"),
    fn("get_time", None, "The current time"),
    fn("search", obj({"query": S, "limit": {"type": "integer", "minimum": 1, "maximum": 50}}, ["query"]), "Search the web"),
    fn("send_email", obj({"to": S, "subject": S, "body": S}, ["to", "subject", "body"]), "Send an email"),
    fn("book_flight", obj({"origin": S, "destination": S, "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
                          ["origin", "destination", "date"]), "Book a flight"),
    fn("set_alarm", obj({"hour": {"type": "integer", "minimum": 0, "maximum": 23}, "minute": {"type": "integer", "minimum": 0, "maximum": 59}},
                        ["hour", "minute"]), "Set an alarm"),
    fn("convert_currency", obj({"amount": {"type": "number"}, "source": {"enum": ["USD", "EUR", "JPY"]}, "target": {"enum": ["USD", "EUR", "JPY"]}},
                               ["amount", "source", "target"]), "Convert money"),
    fn("create_event", obj({"title": S, "attendees": {"type": "array", "items": S, "maxItems": 3}}, ["title", "attendees"]), "Create an event"),
    fn("translate", obj({"text": S, "language": {"type": "string", "enum": ["fr", "de", "es"]}}, ["text", "language"]), "Translate text"),
    fn("get_stock", obj({"symbol": {"type": "string", "pattern": "^[A-Z]{1,5}$"}}, ["symbol"]), "Stock price"),
    fn("rate", obj({"stars": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": S}, ["stars"]), "Rate a product"),
    fn("toggle_light", obj({"on": {"type": "boolean"}, "room": S}, ["on"]), "Switch a light"),
    fn("locate", obj({"place": obj({"lat": {"type": "number"}, "lon": {"type": "number"}}, ["lat", "lon"])}, ["place"]), "Find a place"),
]
BY_NAME = {t["function"]["name"]: t["function"].get("parameters") or {"type": "object", "properties": {}} for t in TOOLS}
PROMPTS = ["What's the weather in Paris?", "Add 2 and 3.5.", "What time is it?", "Search for swift compilers.",
           "Email bob that lunch is at noon.", "Book a flight from Oslo to Rome on 2027-01-05.", "Wake me at 7:30.",
           "Convert 10 USD to EUR.", "Create a meeting with Ann and Bo.", "Translate 'hello' to French.",
           "What is Apple's stock price?", "Rate it 4 stars.", "Turn on the kitchen light.", "Where is the Eiffel Tower?"]


@pytest.fixture(scope="module")
def server():
    with serving("--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--chat-template", TEMPLATE,
                 "--num-kv-blocks", "4096", "--max-num-seqs", "32") as base:
        yield base


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="none", max_retries=2, timeout=600)


def reassemble(stream):
    """The message a stream adds up to: content, reasoning, calls (id, name, arguments), and its finish reason."""
    content, reasoning, calls, finish, leaked = "", "", {}, None, []
    for ch in stream:
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        content += d.content or ""
        extra = d.model_extra or {}
        reasoning += extra.get("reasoning") or ""
        assert (extra.get("reasoning") or "") == (extra.get("reasoning_content") or ""), "both reasoning fields carry the same text"
        for t in d.tool_calls or []:
            c = calls.setdefault(t.index, {"id": None, "name": "", "arguments": ""})
            if t.id:
                assert c["id"] is None, "a call's id is sent once"
                c["id"] = t.id
                assert t.type == "function"
            c["name"] += (t.function.name or "") if t.function else ""
            c["arguments"] += (t.function.arguments or "") if t.function else ""
        finish = ch.choices[0].finish_reason or finish
    return content, reasoning, [calls[i] for i in sorted(calls)], finish


def check_calls(calls, names):
    assert calls, "at least one call"
    for c in calls:
        assert c["name"] in names, c
        args = json.loads(c["arguments"])
        jsonschema.validate(args, BY_NAME[c["name"]])


def test_required_and_named_calls_validate(client):
    """14 tools, `required` (all offered) and each tool named, greedy and sampled (seeds 1, 2), streamed and not."""
    jobs = []
    for i, p in enumerate(PROMPTS):
        for seed in (None, 1, 2):
            for stream in (False, True):
                jobs.append(("required", p, seed, stream))
        jobs.append((TOOLS[i]["function"]["name"], p, None, i % 2 == 0))
        jobs.append((TOOLS[i]["function"]["name"], p, 7, i % 2 == 1))
    assert len(jobs) >= 100

    def run(job):
        choice, prompt, seed, stream = job
        kw = dict(model="smol", messages=[{"role": "user", "content": prompt}], tools=TOOLS, max_tokens=300,
                  tool_choice=choice if choice == "required" else {"type": "function", "function": {"name": choice}})
        kw.update(temperature=0.0) if seed is None else kw.update(temperature=1.0, seed=seed)
        if stream:
            content, _, calls, finish = reassemble(client.chat.completions.create(stream=True, **kw))
            assert content == "", "no text of a call leaks into content"
        else:
            r = client.chat.completions.create(**kw)
            m = r.choices[0].message
            assert m.content is None
            calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in m.tool_calls or []]
            finish = r.choices[0].finish_reason
        assert all(c["id"].startswith("chatcmpl-tool-") for c in calls)
        return choice, calls, finish, seed

    with cf.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(run, jobs))
    stopped = 0
    for choice, calls, finish, seed in results:
        if finish == "length":
            # Cut by max_tokens: SmolLM2 can repeat parallel calls (the list has no length bound unless
            # parallel_tool_calls is false), keep adding keys a schema allows, or run whitespace (vLLM's default
            # JSON grammar allows any whitespace too). As in vLLM, a cut named call returns the incomplete text.
            continue
        stopped += 1
        if choice == "required":
            assert finish == "tool_calls"
            check_calls(calls, BY_NAME)
        else:
            assert finish == "stop"  # OpenAI: a named call finishes with "stop"
            assert [c["name"] for c in calls] == [choice]
            check_calls(calls, {choice})
    print(f"{stopped} of {len(results)} forced-call requests stopped; all their calls validate")
    assert stopped >= 0.85 * len(results)


def test_parallel_tool_calls_false_gives_one_call(client):
    for seed in range(4):
        r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": PROMPTS[seed]}], tools=TOOLS,
                                           tool_choice="required", parallel_tool_calls=False, temperature=1.0, seed=seed, max_tokens=300)
        assert r.choices[0].finish_reason == "tool_calls"
        assert len(r.choices[0].message.tool_calls) == 1


FORCED = '<tool_call>\\n\\{"name": "get_weather", "arguments": \\{"city": "(Paris|Rome|Oslo)"\\}\\}\\n</tool_call>'


def test_auto_parses_the_models_calls(client):
    """`auto`: the hermes parser reads a call the model writes (held to one by a regex), streamed and not."""
    kw = dict(model="smol", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS, tool_choice="auto",
              max_tokens=80, temperature=0, extra_body={"structured_outputs": {"regex": "Checking\\. " + FORCED}})
    r = client.chat.completions.create(**kw)
    m = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert m.content == "Checking. "
    assert len(m.tool_calls) == 1 and m.tool_calls[0].function.name == "get_weather"
    args = json.loads(m.tool_calls[0].function.arguments)
    assert args["city"] in ("Paris", "Rome", "Oslo")
    assert m.tool_calls[0].function.arguments == json.dumps(args)  # vLLM writes json.dumps of the arguments
    content, _, calls, finish = reassemble(client.chat.completions.create(stream=True, **kw))
    assert (content, finish) == ("Checking. ", "tool_calls")
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_weather", m.tool_calls[0].function.arguments)]
    # Plain text stays content, with no calls.
    r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Say hi."}], tools=TOOLS,
                                       max_tokens=8, temperature=0)
    assert r.choices[0].message.tool_calls is None and r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")


def test_auto_calls_the_model_writes_and_strict_tools(client):
    """Few-shot history: SmolLM2 writes a hermes call itself ("Lisbon"); marked `"strict": true`, the same call is
    held to the tool's schema by the grammar (the enum allows only Rome and Oslo), and the text stays free."""
    strict_tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "enum": ["Rome", "Oslo"]}}, "required": ["city"], "additionalProperties": False}}}

    def call(city, i):
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]}
    shots = [{"role": "user", "content": "Weather in Paris?"}, call("Paris", 1), {"role": "user", "content": "Weather in Berlin?"},
             call("Berlin", 2), {"role": "user", "content": "Weather in Madrid?"}, call("Madrid", 3), {"role": "user", "content": "Weather in Lisbon?"}]
    found = {}
    for strict in (False, True):
        tool = {"type": "function", "function": {**strict_tool["function"], "strict": strict}}
        r = client.chat.completions.create(model="smol", messages=shots, tools=[tool], temperature=0, max_tokens=60)
        m = r.choices[0].message
        assert r.choices[0].finish_reason == "tool_calls" and m.content is None
        assert [c.function.name for c in m.tool_calls] == ["get_weather"]
        found[strict] = json.loads(m.tool_calls[0].function.arguments)["city"]
        _, _, calls, finish = reassemble(client.chat.completions.create(model="smol", messages=shots, tools=[tool], temperature=0,
                                                                          max_tokens=60, stream=True))
        assert finish == "tool_calls" and [(c["name"], c["arguments"]) for c in calls] == [("get_weather", m.tool_calls[0].function.arguments)]
    assert found[False] == "Lisbon"
    assert found[True] in ("Rome", "Oslo")


def test_multi_turn_with_tool_result(server, client):
    msgs = [{"role": "user", "content": "What's the weather in Paris?"}]
    r = client.chat.completions.create(model="smol", messages=msgs, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                       max_tokens=100, temperature=0)
    call = r.choices[0].message.tool_calls[0]
    msgs.append({"role": "assistant", "content": None, "tool_calls": [call.model_dump()]})
    msgs.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    # The template renders the call (arguments as an object) and the tool's result.
    status, body, _ = raw(server, "/tokenize", {"model": "smol", "messages": msgs, "tools": TOOLS})
    assert status == 200
    status, text, _ = raw(server, "/detokenize", {"model": "smol", "tokens": json.loads(body)["tokens"]})
    prompt = json.loads(text)["prompt"]
    assert "<tool_response>\nsunny, 21 C\n</tool_response>" in prompt
    assert '<tool_call>\n{"name": "get_weather", "arguments": ' + json.dumps(json.loads(call.function.arguments)) in prompt
    r2 = client.chat.completions.create(model="smol", messages=msgs, tools=TOOLS, tool_choice="none", max_tokens=30, temperature=0)
    assert r2.choices[0].message.tool_calls is None
    assert r2.choices[0].message.content


def test_none_never_calls(client):
    for p in PROMPTS[:10]:
        r = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": p}], tools=TOOLS, tool_choice="none",
                                           max_tokens=20, temperature=0.7, seed=3)
        assert r.choices[0].message.tool_calls is None
        assert r.choices[0].finish_reason != "tool_calls"


@pytest.mark.parametrize("body,message", [
    ({"tools": []}, "`tools` must not be an empty array. Either provide at least one tool or omit the field entirely."),
    ({"tool_choice": "required"}, "When using `tool_choice`, `tools` must be set."),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, 'Invalid value for `tool_choice`: sometimes! Only named tools, "none", "auto" or "required" are supported.'),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "The tool specified in `tool_choice` does not match any of the specified `tools`"),
    ({"tools": TOOLS, "tool_choice": {"type": "function"}},
     'Invalid value for `function`: `None` in `tool_choice`! Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {}}},
     'Expected field `name` in `function` in `tool_choice`! Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_time"}}, "structured_outputs": {"regex": "a"}},
     "You can only either use constraints for structured outputs or tools, not both."),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function needs a name"),
])
def test_bad_tool_requests_are_400s(server, body, message):
    status, text, _ = raw(server, "/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **body})
    assert status == 400, text
    assert json.loads(text)["error"]["message"] == message


def test_choices_the_server_was_not_started_for():
    with serving("--num-kv-blocks", "256") as base:
        for choice, message in [("auto", '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
                                ("required", 'tool_choice="required" requires --tool-call-parser to be set'),
                                ({"type": "function", "function": {"name": "get_time"}}, 'tool_choice=function "get_time" requires --tool-call-parser to be set')]:
            status, text, _ = raw(base, "/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "hi"}],
                                                                 "tools": TOOLS, "tool_choice": choice, "max_tokens": 4})
            assert status == 400 and json.loads(text)["error"]["message"] == message, text
        # Without tool_choice, tools mean "auto" (as in vLLM and OpenAI).
        status, text, _ = raw(base, "/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS})
        assert status == 400 and "requires --enable-auto-tool-choice" in text


# Few-shot: SmolLM2 imitates the examples' thinking (greedy: "<think>The sky is blue.</think>No.").
SHOTS = [{"role": "user", "content": "Is water wet?"}, {"role": "assistant", "content": "<think>Water makes things wet.</think>Yes."},
         {"role": "user", "content": "Is fire cold?"}, {"role": "assistant", "content": "<think>Fire is hot.</think>No."},
         {"role": "user", "content": "Is ice cold?"}, {"role": "assistant", "content": "<think>Ice is frozen water.</think>Yes."},
         {"role": "user", "content": "Is the sky blue?"}]


@pytest.mark.parametrize("parser", ["deepseek_r1", "qwen3"])
def test_reasoning_split_streamed_and_not(parser):
    with serving("--reasoning-parser", parser, "--num-kv-blocks", "256") as base:
        c = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=2, timeout=600)
        kw = dict(model="smol", messages=SHOTS, max_tokens=40, temperature=0)
        r = c.chat.completions.create(**kw)
        m = r.choices[0].message
        extra = m.model_extra
        assert (extra["reasoning"], m.content) == ("The sky is blue.", "No.")
        assert extra["reasoning_content"] == extra["reasoning"]
        content, reasoning, calls, finish = reassemble(c.chat.completions.create(stream=True, **kw))
        assert (content, reasoning, calls, finish) == ("No.", "The sky is blue.", [], "stop")
        # Structured outputs hold the answer only: the thinking stays free, the answer obeys the choice.
        r = c.chat.completions.create(**kw, extra_body={"structured_outputs": {"choice": ["Yes.", "Maybe."]}})
        assert r.choices[0].message.model_extra["reasoning"] == "The sky is blue."
        assert r.choices[0].message.content in ("Yes.", "Maybe.")
        # Cut inside the thinking: everything so far is reasoning.
        r = c.chat.completions.create(**{**kw, "max_tokens": 8})
        assert r.choices[0].message.content is None and r.choices[0].message.model_extra["reasoning"]
        if parser == "qwen3":
            # enable_thinking=false: no reasoning at all, the tags stay in the content.
            r = c.chat.completions.create(**kw, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
            assert r.choices[0].message.model_extra["reasoning"] is None
            assert r.choices[0].message.content == "<think>The sky is blue.</think>No."
