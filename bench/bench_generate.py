"""Generation throughput: `r1 generate` vs transformers `generate`, same model,
same prompts, same thread count, one run on one machine.

Usage: bench_generate.py [--r1 build/r1] [--preset medium] [--vocab 16384]
                         [--prompt-len 64] [--new-tokens 128] [--threads 2]

Prints prefill and decode tokens/s at batch 1 and 16 for both and the ratio.
Prefill is timed as one forward pass over the prompts; decode as the rest of
generate. Sampling at temperature 1; transformers is held to exactly
new-tokens per row, ours may stop a row early at a random eos, and tokens/s
counts the tokens each side really generated.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM


def run_ours(r1, model_dir, prompts, new_tokens, threads, tmp):
    path = os.path.join(tmp, "prompts.jsonl")
    with open(path, "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt_ids": p}) + "\n")
    cmd = [r1, "generate", "--model", model_dir, "--prompts", path, "--output", os.path.join(tmp, "out.jsonl"),
           "--max-new-tokens", str(new_tokens), "--temperature", "1", "--threads", str(threads)]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    # "r1 generate: prefill N tok in Xs (P tok/s), decode M tok in Ys (D tok/s)"
    words = err.split()
    prefill = float(words[words.index("prefill") + 5].strip("("))
    decode = float(words[words.index("decode") + 5].strip("("))
    return prefill, decode


def run_reference(model, prompts, new_tokens):
    ids = torch.tensor(prompts)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)  # warm-up
        start = time.perf_counter()
        model(input_ids=ids, attention_mask=mask)
        prefill_s = time.perf_counter() - start
        start = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)
        total_s = time.perf_counter() - start
    generated = (out.shape[1] - ids.shape[1]) * ids.shape[0]
    return ids.numel() / prefill_s, generated / max(total_s - prefill_s, 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="", help="use this HF folder instead of a fresh random one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or os.path.join(tmp, "model")
        if not args.model:
            subprocess.run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--vocab-size",
                            str(args.vocab), "--out", model_dir], check=True, capture_output=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        n_params = sum(p.numel() for p in model.parameters())
        vocab = model.config.vocab_size
        print(f"model: {model_dir} ({n_params / 1e6:.1f}M parameters), prompt {args.prompt_len} tokens, "
              f"{args.new_tokens} new tokens, {args.threads} threads, torch {torch.__version__}")
        print(f"{'batch':>5} | {'ours prefill':>12} {'HF prefill':>10} {'ratio':>6} | "
              f"{'ours decode':>11} {'HF decode':>9} {'ratio':>6}   (tokens/s)")
        g = torch.Generator().manual_seed(0)
        for batch in (1, 16):
            prompts = torch.randint(3, vocab, (batch, args.prompt_len), generator=g).tolist()
            ours_p, ours_d = run_ours(args.r1, model_dir, prompts, args.new_tokens, args.threads, tmp)
            ref_p, ref_d = run_reference(model, prompts, args.new_tokens)
            print(f"{batch:>5} | {ours_p:>12.0f} {ref_p:>10.0f} {ours_p / ref_p:>6.2f} | "
                  f"{ours_d:>11.1f} {ref_d:>9.1f} {ours_d / ref_d:>6.2f}")


if __name__ == "__main__":
    main()
