"""Berkeley Function Calling Leaderboard (bfcl-eval, its data and its AST checker) against an OpenAI-compatible
server: `folio serve` (or vLLM) as the endpoint. Categories `simple` (simple_python) and `multiple`.

    python3 -m venv /tmp/bfcl-venv && /tmp/bfcl-venv/bin/pip install bfcl-eval
    folio serve --model models/smollm2-135m-instruct-q4_1.gguf --served-model-name smol --port 8000 \
        --enable-auto-tool-choice --tool-call-parser hermes --chat-template Tests/Fixtures/tools/qwen2.5-tools.jinja
    /tmp/bfcl-venv/bin/python Benchmarks/bfcl.py --base-url http://127.0.0.1:8000/v1 --model smol --tool-choice required

Per category it prints (and appends to Benchmarks/results/bfcl-*.jsonl): requests, the valid-call rate (the
response has calls, every name is an offered function and every `arguments` is a JSON object: what BFCL's FC
decoder needs) and the accuracy (BFCL's `ast_checker` against its possible answers). Requests are sent as BFCL's
own OpenAI FC handler sends them (tools converted by its `convert_to_tool`, temperature 0.001), plus
`tool_choice`.
"""
import argparse, concurrent.futures as cf, json, os, time
import bfcl_eval
from bfcl_eval.constants.enums import Language, ModelStyle
from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
from bfcl_eval.model_handler.utils import convert_to_tool
from openai import OpenAI

DATA = os.path.join(os.path.dirname(bfcl_eval.__file__), "data")
CATEGORIES = {"simple": "BFCL_v4_simple_python.json", "multiple": "BFCL_v4_multiple.json"}
# A model name BFCL's checker knows as an FC model that writes "." as "_" (the names the tools were sent with).
CHECKER_MODEL = "gpt-4o-2024-11-20-FC"


def load(name):
    with open(os.path.join(DATA, name)) as f:
        entries = [json.loads(l) for l in f if l.strip()]
    with open(os.path.join(DATA, "possible_answer", name)) as f:
        answers = {e["id"]: e["ground_truth"] for e in map(json.loads, filter(str.strip, f))}
    return entries, answers


def ask(client, model, entry, tool_choice, max_tokens, parallel):
    tools = convert_to_tool(entry["function"], GORILLA_TO_OPENAPI, ModelStyle.OPENAI_COMPLETIONS)
    kw = dict(model=model, messages=entry["question"][0], tools=tools, temperature=0.001, max_tokens=max_tokens)
    if tool_choice != "default":
        kw["tool_choice"] = tool_choice
    if parallel is not None:
        kw["parallel_tool_calls"] = parallel
    r = client.chat.completions.create(**kw)
    m = r.choices[0].message
    return [{c.function.name: c.function.arguments} for c in m.tool_calls or []], r.choices[0].finish_reason, tools


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tool-choice", default="required", help="required | auto | default (not sent)")
    ap.add_argument("--categories", default="simple,multiple")
    ap.add_argument("--limit", type=int, default=0, help="first N entries per category (0: all)")
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--parallel-tool-calls", choices=["true", "false"], help="sent when given (false: one call per answer)")
    ap.add_argument("--label", default="folio")
    a = ap.parse_args()
    client = OpenAI(base_url=a.base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"), max_retries=3, timeout=900)
    out = []
    for cat in a.categories.split(","):
        entries, answers = load(CATEGORIES[cat])
        if a.limit:
            entries = entries[:a.limit]
        t0 = time.time()
        with cf.ThreadPoolExecutor(a.concurrency) as ex:
            parallel = None if a.parallel_tool_calls is None else a.parallel_tool_calls == "true"
            results = list(ex.map(lambda e: ask(client, a.model, e, a.tool_choice, a.max_tokens, parallel), entries))
        secs = time.time() - t0
        valid = correct = cut = 0
        for e, (calls, finish, tools) in zip(entries, results):
            names = {t["function"]["name"] for t in tools}
            cut += finish == "length"
            try:
                decoded = [{n: json.loads(args)} for c in calls for n, args in c.items()]
                ok = bool(decoded) and all(isinstance(v, dict) for d in decoded for v in d.values()) \
                    and all(n in names for d in decoded for n in d)
            except json.JSONDecodeError:
                ok = False
            if not ok:
                continue
            valid += 1
            check = ast_checker(e["function"], decoded, answers[e["id"]], Language.PYTHON, cat, CHECKER_MODEL)
            correct += bool(check["valid"])
        row = {"label": a.label, "category": cat, "tool_choice": a.tool_choice, "parallel_tool_calls": a.parallel_tool_calls,
               "max_tokens": a.max_tokens, "requests": len(entries), "valid_calls": valid,
               "valid_rate": round(valid / len(entries), 4), "correct": correct, "accuracy": round(correct / len(entries), 4),
               "cut_by_max_tokens": cut, "seconds": round(secs, 1)}
        print(json.dumps(row))
        out.append(row)
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", time.strftime("bfcl-%Y%m%d-%H%M.jsonl"))
    with open(path, "a") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
