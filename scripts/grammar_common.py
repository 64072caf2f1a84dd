"""Helpers shared by the structured-output goldens, benchmark and tests (no xgrammar needed to import this)."""


def fnv(ids):
    """FNV-1a 64 over little-endian uint32 ids: how allowed-token sets are recorded and compared."""
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def vocab_from_gguf(path):
    """The GGUF's tokens as byte-level strings, special ones (types 3 CONTROL and 4 USER_DEFINED) as "" (Folio never
    lets them match grammar text); and the token types."""
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields["tokenizer.ggml.tokens"]
    toks = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    t = r.fields["tokenizer.ggml.token_type"]
    types = [int(t.parts[i][0]) for i in t.data]
    return [("" if types[i] in (3, 4) else s) for i, s in enumerate(toks)], types
