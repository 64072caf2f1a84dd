"""Folio's corpus of model outputs for the tool-call and reasoning parsers, hand-written in each family's real
format. scripts/make_tool_parser_goldens.py runs vLLM's parsers on it; Tests/FolioToolsTests compare."""

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
     "properties": {"a": {"type": "integer"}, "b": {"type": "number"}}, "required": ["a", "b"]}}},
    {"type": "function", "function": {"name": "get_time", "description": "No parameters"}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object",
     "properties": {"query": {"type": "string"}, "filters": {"type": "object"}, "tags": {"type": "array", "items": {"type": "string"}}}}}},
]

SPECIAL_TOKENS = [
    "<tool_call>", "</tool_call>", "<think>", "</think>", "<|python_tag|>", "[TOOL_CALLS]", "[ARGS]",
    "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>",
    "<|im_start|>", "<|im_end|>", "<|tool_call|>", "<|eom_id|>",
]

CASES = []


def tool(parser, name, text, **kw):
    CASES.append({"kind": "tool", "parser": parser, "name": f"{parser}/{name}", "text": text, **kw})


def reasoning(parser, name, text, **kw):
    CASES.append({"kind": "reasoning", "parser": parser, "name": f"{parser}/{name}", "text": text, **kw})


# Output that never calls a tool, for every parser.
PLAIN = {
    "plain": "The weather in Paris is sunny.",
    "empty": "",
    "unicode": "Température: 20 °C — ☀️ 你好",
    "braces_in_prose": "Use {curly} braces and [brackets] (parens) freely.",
}
for p in ["hermes", "llama3_json", "mistral", "pythonic", "qwen3_xml", "deepseek_v3", "granite", "phi4_mini_json"]:
    for n, t in PLAIN.items():
        tool(p, n, t)

# hermes: Qwen2.5 / Qwen3 / Hermes 2 Pro JSON in <tool_call> tags.
H = "hermes"
tool(H, "one", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
tool(H, "compact", '<tool_call>{"name":"get_weather","arguments":{"city":"Paris","unit":"c"}}</tool_call>')
tool(H, "text_before", 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
tool(H, "text_after", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\nDone.')
tool(H, "two_calls", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
     '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2.5}}\n</tool_call>')
tool(H, "no_arguments_key", '<tool_call>\n{"name": "get_time"}\n</tool_call>')
tool(H, "empty_arguments", '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
tool(H, "unicode_args", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "São Paulo 東京 \\u00e9"}}\n</tool_call>')
tool(H, "escaped_quotes", '<tool_call>\n{"name": "search", "arguments": {"query": "say \\"hi\\" \\\\ now\\n"}}\n</tool_call>')
tool(H, "nested", '<tool_call>\n{"name": "search", "arguments": {"query": "x", "filters": {"a": [1, 2, {"b": null}], "c": true}, "tags": []}}\n</tool_call>')
tool(H, "numbers", '<tool_call>\n{"name": "add", "arguments": {"a": -12, "b": 1.50e2}}\n</tool_call>')
tool(H, "malformed_json", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"\n</tool_call>')
tool(H, "unterminated", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}')
tool(H, "unterminated_partial", 'Sure <tool_call>\n{"name": "get_weather", "argu')
tool(H, "arguments_string", '<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>')
tool(H, "name_not_string", '<tool_call>\n{"name": 7, "arguments": {}}\n</tool_call>')
tool(H, "second_malformed", '<tool_call>{"name": "get_time", "arguments": {}}</tool_call><tool_call>{"name": }</tool_call>')
tool(H, "whitespace_before", '\n\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
tool(H, "parameters_key", '<tool_call>\n{"name": "get_time", "parameters": {}}\n</tool_call>')
tool(H, "think_then_call", '<think>I should call it.</think>\n\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
tool(H, "extra_keys", '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "x"}\n</tool_call>')
tool(H, "duplicate_keys", '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2, "a": 3}}\n</tool_call>')
tool(H, "big_int", '<tool_call>\n{"name": "add", "arguments": {"a": 123456789012345678901234567890, "b": 1e400}}\n</tool_call>')
tool(H, "floats", '<tool_call>\n{"name": "add", "arguments": {"a": 0, "b": 0.000012}}\n</tool_call>')
tool(H, "float_forms", '<tool_call>\n{"name": "add", "arguments": {"a": 1E+2, "b": -0.0, "c": 1e16, "d": 123456789.123456789, "e": 1e-7}}\n</tool_call>')
tool(H, "control_chars", '<tool_call>\n{"name": "search", "arguments": {"query": "tab\\there \\u0001 \\ud83d\\ude00 \\/"}}\n</tool_call>')
tool(H, "nan", '<tool_call>\n{"name": "add", "arguments": {"a": NaN, "b": Infinity}}\n</tool_call>')
tool(H, "tag_in_content", 'The tag is </tool_call> and that is all.')

# llama3_json: Llama 3.1/3.2 JSON, optionally after <|python_tag|>, several joined by "; ".
L = "llama3_json"
tool(L, "one", '{"name": "get_weather", "parameters": {"city": "Paris"}}')
tool(L, "python_tag", '<|python_tag|>{"name": "get_weather", "arguments": {"city": "Paris"}}')
tool(L, "two_semicolon", '{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "add", "parameters": {"a": 1, "b": 2}}')
tool(L, "text_before", 'Sure: {"name": "get_time", "parameters": {}}')
tool(L, "no_params", '{"name": "get_time"}')
tool(L, "malformed", '{"name": "get_weather", "parameters": {"city": "Paris"}')
tool(L, "not_a_call", '{"city": "Paris"}')
tool(L, "unicode", '{"name": "get_weather", "parameters": {"city": "Zürich \\"Z\\""}}')
tool(L, "nested", '{"name": "search", "parameters": {"filters": {"k": [1, {"x": false}]}, "query": "q"}}')

# mistral: [TOOL_CALLS] followed by a JSON array (pre-v11) or name[ARGS]{...} (v11+).
M = "mistral"
tool(M, "array", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]')
tool(M, "array_two", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "add", "arguments": {"a": 1, "b": 2}}]')
tool(M, "args_format", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}')
tool(M, "args_format_two", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]add[ARGS]{"a": 1, "b": 2}')
tool(M, "text_before", 'Let me look. [TOOL_CALLS][{"name": "get_time", "arguments": {}}]')
tool(M, "malformed", '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": ')
tool(M, "no_arguments", '[TOOL_CALLS][{"name": "get_time"}]')
tool(M, "unicode_args", '[TOOL_CALLS][{"name": "search", "arguments": {"query": "naïve \\"q\\" ✓"}}]')

# pythonic: Llama 3.2 / Llama 4 / ToolACE lists of calls.
P = "pythonic"
tool(P, "one", '[get_weather(city="Paris")]')
tool(P, "two", '[get_weather(city="Paris", unit="c"), add(a=1, b=2.5)]')
tool(P, "no_args", '[get_time()]')
tool(P, "literals", '[search(query=\'single\', filters={"a": [1, 2], "b": None, "c": True}, tags=["x", "y"])]')
tool(P, "json_literals", '[search(query="q", filters={"a": null, "b": true, "c": false})]')
tool(P, "escapes", '[search(query="say \\"hi\\"\\n\\tok ü")]')
tool(P, "negative", '[add(a=-3, b=-0.5)]')
tool(P, "text_before", 'Here: [get_time()]')
tool(P, "text_after", '[get_time()] done')
tool(P, "malformed", '[get_weather(city="Paris"]')
tool(P, "not_a_call_list", '[1, 2, 3]')
tool(P, "unterminated", '[get_weather(city="Par')
tool(P, "whitespace", '[ get_weather( city = "Paris" ) , get_time( ) ]')
tool(P, "dotted", '[tools.get_time()]')
tool(P, "tuple_value", '[search(tags=("a", "b"))]')

# qwen3_xml / qwen3_coder: Qwen3-Coder XML.
Q = "qwen3_xml"
tool(Q, "one", '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>')
tool(Q, "two_params", '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=unit>\nc\n</parameter>\n</function>\n</tool_call>')
tool(Q, "typed", '<tool_call>\n<function=add>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\n2.5\n</parameter>\n</function>\n</tool_call>')
tool(Q, "two_calls", '<tool_call>\n<function=get_time>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n</function>\n</tool_call>')
tool(Q, "text_before", 'I will check.\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>')
tool(Q, "multiline_value", '<tool_call>\n<function=search>\n<parameter=query>\nline one\nline two "quoted" & <b>\n</parameter>\n</function>\n</tool_call>')
tool(Q, "unterminated", '<tool_call>\n<function=get_weather>\n<parameter=city>\nPar')
tool(Q, "no_tool_call_tag", '<function=get_time>\n</function>')
tool(Q, "json_value", '<tool_call>\n<function=search>\n<parameter=filters>\n{"a": 1}\n</parameter>\n</function>\n</tool_call>')
tool("qwen3_coder", "one", '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>')

# deepseek_v3
D = "deepseek_v3"
DS = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
tool(D, "one", DS)
tool(D, "text_before", "Checking.\n" + DS)
tool(D, "two", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
     "<｜tool▁call▁begin｜>function<｜tool▁sep｜>add\n```json\n{\"a\": 1, \"b\": 2}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")
tool(D, "unterminated", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Pa")
tool(D, "unicode", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n```json\n{\"query\": \"日本 \\\"x\\\"\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>")

# granite (3.0 special token and 3.1 text marker)
G = "granite"
tool(G, "token", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]')
tool(G, "string", '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {}}]')
tool(G, "text_before", 'Sure. <|tool_call|>[{"name": "get_time", "arguments": {}}]')

# phi4_mini_json
F = "phi4_mini_json"
tool(F, "one", 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]')
tool(F, "two", 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {}}]')
tool(F, "parameters", 'functools[{"name": "add", "parameters": {"a": 1, "b": 2}}]')

# Reasoning parsers: think tags in every position.
for p in ["deepseek_r1", "qwen3", "granite"]:
    if p == "granite":
        THINK = ("Here is my thought process:", "Here is my response:")
    else:
        THINK = ("<think>", "</think>")
    a, b = THINK
    reasoning(p, "both_tags", f"{a}Let me think.{b}The answer is 4.")
    reasoning(p, "no_start_tag", f"Let me think.{b}The answer is 4.")
    reasoning(p, "no_tags", "The answer is 4.")
    reasoning(p, "truncated", f"{a}Let me think about this for a wh")
    reasoning(p, "end_only_at_end", f"{a}Thinking done.{b}")
    reasoning(p, "newlines", f"{a}\nStep 1.\nStep 2.\n{b}\n\nAnswer: 4")
    reasoning(p, "empty_reasoning", f"{a}{b}Answer.")
    reasoning(p, "tags_twice", f"{a}one{b}two{a}three{b}four")
    reasoning(p, "unicode", f"{a}思考中… ✓{b}答え：４")
    reasoning(p, "text_before_start", f"Intro {a}hidden{b}shown")
    if p == "qwen3":
        reasoning(p, "thinking_disabled", "The answer is 4.", chat_template_kwargs={"enable_thinking": False})
        reasoning(p, "thinking_disabled_tags", "<think>\n\n</think>\n\nThe answer is 4.", chat_template_kwargs={"enable_thinking": False})
        reasoning(p, "tool_call_ends_reasoning", "<think>I need the time.\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>")
