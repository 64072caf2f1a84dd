"""Prompts for the speculative decoding benchmarks (Benchmarks/speculative.sh), as chat-formatted text for
SmolLM2-Instruct (ChatML, what its chat template renders):

- copy.json: copy-heavy: correct / rewrite / extract from a ~500-token passage, and code edits (passages and code
  are Python standard-library docstrings and sources, so the set is reproducible anywhere);
- prose.json: open-ended writing (little to copy);
- agent.json: a multi-turn tool-calling loop whose next step repeats the shape of the earlier ones.

python3 Benchmarks/speculative/make_prompts.py OUT_DIR
"""
import inspect
import json
import os
import sys
import textwrap
import argparse
import json as jsonmod
import random
import string
import difflib
import shlex
import collections

def chat(user, system="You are a helpful assistant."):
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"

def words(text, n):
    w = text.split()
    return " ".join(w[:n])

import pydoc
# ~380-word windows of the modules' rendered documentation (prose with signatures): about 500 tokens each.
docs = [" ".join(pydoc.render_doc(m, renderer=pydoc.plaintext).split()[60:]) for m in (argparse, textwrap, difflib, shlex, random, collections, string, jsonmod)]
funcs = [textwrap.dedent, textwrap.indent, shlex.split, difflib.get_close_matches, random.Random.shuffle,
         collections.Counter.most_common, string.capwords, jsonmod.dumps]

rng = random.Random(7)
def typos(s):
    out = []
    for w in s.split():
        if len(w) > 4 and rng.random() < 0.08:
            i = rng.randrange(1, len(w) - 1)
            w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        out.append(w)
    return " ".join(out)

copy = []
for i in range(16):
    d = words(docs[i % len(docs)], 380)
    kind = i % 4
    if kind == 0:
        copy.append(chat(f"Fix the spelling mistakes in this text and return the whole corrected text:\n\n{typos(d)}"))
    elif kind == 1:
        copy.append(chat(f"Repeat the following passage exactly, as a single paragraph:\n\n{d}"))
    elif kind == 2:
        src = inspect.getsource(funcs[i % len(funcs)])
        copy.append(chat(f"Rename the variable `text` to `data` everywhere (if there is none, rename the first argument) and return the complete code:\n\n```python\n{src}```"))
    else:
        src = inspect.getsource(funcs[(i + 3) % len(funcs)])
        copy.append(chat(f"Add type hints to this function and return the complete code, otherwise unchanged:\n\n```python\n{src}```"))

topics = ["a lighthouse keeper who finds a map", "why the sky is blue, for a child", "a recipe for a rainy day soup",
          "the history of the bicycle", "a letter to a future self", "how bees communicate", "a city built on water",
          "advice for a first job interview", "a dragon who is afraid of heights", "the life of a raindrop",
          "how a compiler works, simply", "a day at a mountain market", "a robot learning to paint",
          "the best way to learn a language", "a storm at sea", "a friendship between a cat and a crow"]
prose = [chat(f"Write a short essay or story about {t}.") for t in topics]

cities = ["Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Quito", "Perth", "Seoul", "Dakar", "Hanoi", "Lyon", "Porto",
          "Accra", "Minsk", "Delhi", "Rome", "Bern", "Kyiv"]
agent = []
tool_sys = ("You are a travel agent with one tool. To call it, answer only with a JSON object "
            '{"name": "get_weather", "arguments": {"city": CITY, "unit": "celsius", "days": 3}} and nothing else. '
            "After the tool answers, summarize the forecast in one sentence in the same format as before.")
for i in range(16):
    turns = f"<|im_start|>system\n{tool_sys}<|im_end|>\n"
    for j in range(4):
        c = cities[(i + j) % len(cities)]
        t = 10 + (i * 7 + j * 3) % 15
        turns += f"<|im_start|>user\nWhat is the weather in {c}?<|im_end|>\n"
        turns += f'<|im_start|>assistant\n{{"name": "get_weather", "arguments": {{"city": "{c}", "unit": "celsius", "days": 3}}}}<|im_end|>\n'
        turns += f'<|im_start|>tool\n{{"city": "{c}", "forecast": [{{"day": 1, "high": {t}, "low": {t - 6}, "sky": "clear"}}, {{"day": 2, "high": {t + 1}, "low": {t - 5}, "sky": "cloudy"}}, {{"day": 3, "high": {t - 1}, "low": {t - 7}, "sky": "rain"}}]}}<|im_end|>\n'
        turns += f"<|im_start|>assistant\nIn {c} the next three days bring highs of {t}, {t + 1} and {t - 1} degrees celsius: clear, then cloudy, then rain.<|im_end|>\n"
    c = cities[(i + 4) % len(cities)]
    turns += f"<|im_start|>user\nWhat is the weather in {c}?<|im_end|>\n<|im_start|>assistant\n"
    agent.append(turns)

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
for name, ps in [("copy", copy), ("prose", prose), ("agent", agent)]:
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(ps, f, indent=0)
    print(name, len(ps), "prompts, mean", sum(len(p) for p in ps) // len(ps), "chars")
