"""Token-mask goldens from Python xgrammar (pip `xgrammar`, the engine vLLM uses by default) for Folio's grammar tests.

For every spec (EBNF grammar, regex, choice list, JSON Schema) it takes seeded random walks with xgrammar's
GrammarMatcher over SmolLM2's vocabulary (read from the GGUF with gguf-py) and records, at every step, the set of
allowed tokens (count, an FNV-1a hash of the sorted ids, and the ids themselves when few) and the token chosen.
Tests/FolioGrammarTests replays each walk with Folio's matcher and requires the same set at every step.

The vocabulary is given to xgrammar with the special (control) tokens as empty strings, so that xgrammar, as Folio,
never lets a grammar produce `<|im_start|>`-style tokens as text; stop tokens are <|endoftext|> (0) and <|im_end|>
(2), as `folio` stops on both. JSON Schemas use xgrammar's conversion with any_whitespace=True (vLLM's default).

    python3 scripts/make_grammar_goldens.py models/smollm2-135m-instruct-q4_1.gguf Tests/Fixtures/grammar/xgrammar-walks.json
"""
import json, os, random, sys
import numpy as np
import xgrammar as xgr
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grammar_common import fnv, vocab_from_gguf

GGUF, OUT = sys.argv[1], sys.argv[2]
STEPS = 250
STOP = [0, 2]

EBNF = {
    "arith": r'''root ::= expr
expr ::= term (("+" | "-") term)*
term ::= factor (("*" | "/") factor)*
factor ::= [0-9]+ ("." [0-9]+)? | "(" ws expr ws ")" | "-" factor
ws ::= [ \t]*''',
    "list": r'''root ::= "[" ws (item (ws "," ws item)*)? ws "]"
item ::= "\"" [a-zA-Z0-9 _-]{1,12} "\"" | [0-9]{1,4} | "true" | "false" | "null"
ws ::= [ \n]*''',
    "unicode": r'''root ::= (greek | cjk | emoji | ascii)+ "."
greek ::= [α-ω]+
cjk ::= [一-龥]{1,3}
emoji ::= [😀-🙏]
ascii ::= [^\x00-\x1f.αβ一]''',
    "kv": r'''root ::= pair ("\n" pair){0,5}
pair ::= key "=" value
key ::= [a-z_]{1,8}
value ::= "'" [^'\n]* "'" | [0-9]+ | "yes" | "no"''',
    "sql": r'''root ::= "SELECT " cols " FROM " name (" WHERE " cond)? ";"
cols ::= "*" | name (", " name)*
name ::= [a-z] [a-z0-9_]*
cond ::= name (" = " | " > " | " < ") (name | [0-9]+ | "'" [^']* "'")''',
}

REGEX = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "phone": r"\(\d{3}\) \d{3}-\d{4}",
    "word_num": r"[a-z]+\d{2,3}(foo|bar)?",
    "email": r"[a-z0-9._]+@[a-z]+\.(com|org|net)",
    "any_short": r".{3,12}",
    "alt_star": r"(ab|cd)*e",
    "classes": r"\w+\s\S+[^a-c]?",
    "hex": r"0x[0-9A-Fa-f]{1,8}",
}

CHOICE = {
    "yes_no": ["yes", "no", "maybe"],
    "colors": ["red", "green", "blue", "Red", "redder", "gr"],
}

SCHEMAS = {
    "person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
               "email": {"type": "string", "format": "email"}}, "required": ["name", "age"]},
    "enum_const": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog", 3, None]}, "v": {"const": "x"}},
                   "required": ["kind", "v"]},
    "array_bounds": {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 123}, "minItems": 1, "maxItems": 4},
    "nested": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
               "id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["id"]}}},
               "required": ["items"]},
    "any_of": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]},
    "type_list": {"type": ["integer", "null"]},
    "ref_tree": {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
                 "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}}, "$ref": "#/$defs/node"},
    "date_uuid": {"type": "object", "properties": {"d": {"type": "string", "format": "date"},
                  "u": {"type": "string", "format": "uuid"}}, "required": ["d", "u"]},
    "any_json": {},
    "object_any": {"type": "object"},
    "prefix_items": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
    "addl_schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
                    "additionalProperties": {"type": "number"}},
}


def walk(compiler_fn, info, seed, byte_len):
    cg = compiler_fn()
    m = xgr.GrammarMatcher(cg, max_rollback_tokens=1)
    bm = xgr.allocate_token_bitmask(1, info.vocab_size)
    rng = random.Random(seed)
    tokens, steps = [], []
    suspects = None
    for k in range(STEPS + 1):
        m.fill_next_token_bitmask(bm)
        bits = np.unpackbits(bm[0].numpy().view(np.uint8), bitorder="little")[: info.vocab_size]
        allowed = np.nonzero(bits)[0].tolist()
        # xgrammar 0.2.9's mask can hold tokens its own matcher then refuses (regex \w+\s\S+ allows "_(" while a
        # word is being read). Every allowed token of a walk's first step is tried with the matcher; the ones refused
        # there are tried again at every later step. Refused tokens are recorded and left out of the set.
        probe = [t for t in allowed if t not in STOP] if suspects is None else [t for t in suspects if bits[t]]
        refused = []
        for t in probe:
            if m.accept_token(t):
                m.rollback(1)
            else:
                refused.append(t)
        if suspects is None:
            suspects = refused
        allowed = [t for t in allowed if t not in set(refused)]
        steps.append({"n": len(allowed), "h": fnv(allowed), **({"ids": allowed} if len(allowed) <= 16 else {}),
                      **({"xgrammar_refused": refused} if refused else {})})
        content = [t for t in allowed if t not in STOP]
        if not content or len(tokens) == STEPS:
            break
        short = [t for t in content if byte_len[t] <= 2]
        pick = rng.choice(short if short and rng.random() < 0.5 else content)
        assert m.accept_token(pick)
        tokens.append(pick)
    return {"seed": seed, "tokens": tokens, "steps": steps}


def main():
    vocab, types = vocab_from_gguf(GGUF)
    info = xgr.TokenizerInfo(vocab, vocab_type=xgr.VocabType.BYTE_LEVEL, vocab_size=len(vocab), stop_token_ids=STOP)
    byte_len = [len(b) for b in info.decoded_vocab]
    comp = xgr.GrammarCompiler(info, max_threads=1)
    cases = []
    def add(kind, name, spec, fn, seeds):
        for s in seeds:
            w = walk(fn, info, s, byte_len)
            cases.append({"kind": kind, "name": name, "spec": spec, **w})
            print(kind, name, s, len(w["tokens"]), "steps", file=sys.stderr)
    for n, g in EBNF.items():
        add("grammar", n, g, lambda g=g: comp.compile_grammar(g), [1, 2, 3])
    for n, r in REGEX.items():
        add("regex", n, r, lambda r=r: comp.compile_regex(r), [1, 2, 3])
    for n, c in CHOICE.items():
        g = "root ::= " + " | ".join(json.dumps(x) for x in c)
        add("choice", n, c, lambda g=g: comp.compile_grammar(g), [1, 2, 3, 4])
    for n, s in SCHEMAS.items():
        text = json.dumps(s)
        add("json", n, s, lambda t=text: comp.compile_json_schema(t, any_whitespace=True), [1, 2, 3])
        # The same language as xgrammar prints it, through Folio's EBNF parser (lookaheads and all).
        ebnf = str(xgr.Grammar.from_json_schema(text, any_whitespace=True))
        if "Regex(" not in ebnf:
            add("grammar", n + "_ebnf", ebnf, lambda g=ebnf: comp.compile_grammar(g), [5])
    json.dump({"generator": "scripts/make_grammar_goldens.py", "xgrammar": xgr.__version__ if hasattr(xgr, "__version__") else "0.2.9",
               "vocabulary": GGUF.split("/")[-1], "stop_token_ids": STOP, "cases": cases}, open(OUT, "w"), separators=(",", ":"))


if __name__ == "__main__":
    main()
