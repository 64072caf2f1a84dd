#!/usr/bin/env python3
"""Every key of each supported family's transformers config (to_dict() of a default config), for the test that checks
Folio knows each one (Sources/FolioModels/ConfigKeys.swift, docs/config-keys.md).

usage: python scripts/list_config_keys.py > Tests/Fixtures/models/config-keys.json   (needs transformers)
"""
import json
import transformers
from transformers import (LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen3Config, Qwen3MoeConfig, Phi3Config,
                          Gemma3TextConfig, DeepseekV2Config, DeepseekV3Config, GptOssConfig)

# Hugging Face architecture name -> its config class (Folio's families; Gemma 3's text model).
FAMILIES = {
    "LlamaForCausalLM": LlamaConfig, "MistralForCausalLM": MistralConfig, "MixtralForCausalLM": MixtralConfig,
    "Qwen2ForCausalLM": Qwen2Config, "Qwen3ForCausalLM": Qwen3Config, "Qwen3MoeForCausalLM": Qwen3MoeConfig,
    "Phi3ForCausalLM": Phi3Config, "Gemma3ForCausalLM": Gemma3TextConfig, "DeepseekV2ForCausalLM": DeepseekV2Config,
    "DeepseekV3ForCausalLM": DeepseekV3Config, "GptOssForCausalLM": GptOssConfig,
}
print(json.dumps({"reference": f"transformers {transformers.__version__}",
                  "keys": {name: sorted(cls().to_dict().keys()) for name, cls in FAMILIES.items()}}, indent=1))
