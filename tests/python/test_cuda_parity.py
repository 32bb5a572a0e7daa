"""Our logits against transformers' on a GPU, in fp32 and bf16: both sides run on the GPU from one random
checkpoint, over a padded batch. scripts/gpu_check.sh runs it with R1_TEST_DEVICE=cuda; without that it skips.

Tolerance, as in tests/backend_test.cc: the largest |difference| over the largest |logit|, 1e-4 in fp32 (summation
order only) and 3e-2 in bf16 (both sides round activations to bf16 at every layer, each its own sums)."""
import os

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from logit_parity import our_logits, random_sequences, reference_logits

DEVICE = os.environ.get("R1_TEST_DEVICE", "")
pytestmark = pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="R1_TEST_DEVICE is not set to cuda")
TOLERANCE = {"float32": 1e-4, "bfloat16": 3e-2}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuda") / "model"
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=320, hidden_size=128, intermediate_size=320, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, eos_token_id=7, bos_token_id=1)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p)) if "norm" in name else p.normal_(0, 0.15)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_logits_match_transformers_on_the_gpu(checkpoint, dtype, tmp_path):
    assert torch.cuda.is_available(), f"R1_TEST_DEVICE={DEVICE}, but torch sees no GPU"
    sequences = random_sequences([40, 17, 200, 5], 320, seed=1)
    ours, _ = our_logits(checkpoint, sequences, tmp_path, "--device", DEVICE, "--dtype", dtype)
    reference = Qwen2ForCausalLM.from_pretrained(checkpoint, dtype=getattr(torch, dtype)).to(DEVICE).eval()
    theirs = reference_logits(reference, sequences).float().cpu()
    scale = max(theirs[i, :len(s)].abs().max().item() for i, s in enumerate(sequences))
    error = max((ours[i, :len(s)] - theirs[i, :len(s)]).abs().max().item() for i, s in enumerate(sequences))
    print(f"\n{DEVICE} {dtype}: max |ours - transformers| = {error:.3g}, relative {error / scale:.3g}")
    assert error / scale < TOLERANCE[dtype]
