"""Speculative decoding through `folio serve` (issue 15), driven by the official `openai` client: servers started
with vLLM's `--speculative-config` (ngram, suffix, and SmolLM2 drafting for itself) answer greedy requests with the
same text as a server without speculation (plain, streamed, and held to a JSON schema), count drafts in vLLM's
`spec_decode_*` metrics, and refuse bad configurations at start with vLLM's messages."""
import json, os, subprocess
import pytest
import openai
from test_openai import ROOT, FOLIO, MODEL, serving, raw

PASSAGE = ("The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step. "
           "All that glitters is not gold. Actions speak louder than words. Where there is a will, there is a way.")
PROMPTS = [
    [{"role": "user", "content": f"Repeat this text exactly:\n\n{PASSAGE}"}],
    [{"role": "user", "content": "List the numbers from 1 to 30, one per line."}],
    [{"role": "user", "content": "Write two sentences about the sea."}],
]
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
          "required": ["name", "count"]}
CONFIGS = {
    "ngram": '{"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_min": 2, "prompt_lookup_max": 5}',
    "suffix": '{"method": "suffix", "num_speculative_tokens": 8, "adaptive": false}',
    # SmolLM2 drafting for itself: a draft as costly as the target, which the adaptive planner rightly never uses;
    # fixed lengths make it propose.
    "draft": json.dumps({"method": "draft_model", "model": MODEL, "num_speculative_tokens": 3, "adaptive": False}),
}


def answers(base):
    c = openai.OpenAI(base_url=base + "/v1", api_key="x")
    out = []
    for msgs in PROMPTS:
        r = c.chat.completions.create(model="smol", messages=msgs, max_tokens=64, temperature=0)
        out.append(r.choices[0].message.content)
        stream = c.chat.completions.create(model="smol", messages=msgs, max_tokens=64, temperature=0, stream=True)
        out.append("".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices))
    r = c.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Give a name and a count as JSON."}],
                                  max_tokens=48, temperature=0,
                                  response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}})
    out.append(r.choices[0].message.content)
    return out


def metric(base, name):
    return sum(float(l.split()[-1]) for l in raw(base, "/metrics")[1].splitlines() if l.startswith(f"folio:{name}"))


@pytest.fixture(scope="module")
def plain():
    with serving("--num-kv-blocks", "256") as base:
        yield answers(base)


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_same_greedy_text_and_metrics(plain, method):
    with serving("--num-kv-blocks", "256", "--speculative-config", CONFIGS[method]) as base:
        got = answers(base)
        assert got == plain
        json.loads(got[-1])  # the schema-held answer is JSON
        drafts, proposed = metric(base, "spec_decode_num_drafts_total"), metric(base, "spec_decode_num_draft_tokens_total")
        accepted = metric(base, "spec_decode_num_accepted_tokens_total")
        per_pos = metric(base, "spec_decode_num_accepted_tokens_per_pos_total")
        assert drafts > 0 and proposed >= drafts and 0 < accepted <= proposed, (drafts, proposed, accepted)
        assert per_pos == accepted
        if method == "draft":  # SmolLM2 drafting for itself: every greedy proposal is the target's choice
            assert accepted >= 0.8 * proposed, (accepted, proposed)


@pytest.mark.parametrize("config,message", [
    ('{"method": "ngram", "num_speculative_tokens": 0}', "Expected num_speculative_tokens to be greater than zero (0)."),
    ('{"method": "ngram", "num_speculative_tokens": 64}', "num_speculative_tokens=64 is above Folio's limit of 32"),
    ('{"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 3, "prompt_lookup_max": 2}',
     "prompt_lookup_min=3 must be <= prompt_lookup_max=2"),
    (json.dumps({"method": "draft_model", "model": os.path.join(ROOT, "Tests/Fixtures/models/hf-tiny/llama"), "num_speculative_tokens": 2}),
     "Target and draft model should have the same vocabulary size. Target model vocab_size=49152. Draft model vocab_size=512."),
    ('{"method": "draft_model", "model": "/nonexistent/draft.gguf", "num_speculative_tokens": 2}', "cannot load the draft model /nonexistent/draft.gguf"),
])
def test_bad_config_fails_at_start(config, message):
    p = subprocess.run([FOLIO, "serve", "--model", MODEL, "--port", "1", "--speculative-config", config],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert message in p.stderr, p.stderr
