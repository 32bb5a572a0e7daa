"""Generation throughput: ours (bench/generate_bench.cc, in process) vs
transformers `generate`, same model, same prompt shapes, same thread count,
one run on one machine, both warmed up.

Usage: bench_generate.py [--r1 build/r1] [--bench build/model/generate_bench]
                         [--preset medium] [--vocab 16384] [--prompt-len 64]
                         [--new-tokens 128] [--threads 2] [--model DIR]

Prefill is one forward pass over the prompts; decode is the rest of generate.
Sampling at temperature 1; transformers is held to exactly new-tokens per row,
ours may stop a row early at a random eos, and tokens/s counts the tokens each
side really generated.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM


def run_ours(bench, model_dir, batch, prompt_len, new_tokens, threads, dtype):
    out = subprocess.run([bench, "--model", model_dir, "--batch", str(batch), "--prompt-len", str(prompt_len),
                          "--new-tokens", str(new_tokens), "--threads", str(threads), "--dtype", dtype],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    return result["prefill_tokens_per_s"], result["decode_tokens_per_s"]


def run_reference(model, prompts, new_tokens):
    ids = torch.tensor(prompts)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        model.generate(ids, attention_mask=mask, do_sample=True, max_new_tokens=4, pad_token_id=0)  # warm-up
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
    ap.add_argument("--bench", default="build/model/generate_bench")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="", help="use this HF folder instead of a fresh random one")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="weights and compute dtype on both sides")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or os.path.join(tmp, "model")
        if not args.model:
            subprocess.run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--vocab-size",
                            str(args.vocab), "--dtype", args.dtype, "--out", model_dir], check=True, capture_output=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, args.dtype)).eval()
        n_params = sum(p.numel() for p in model.parameters())
        vocab = model.config.vocab_size
        print(f"model: {model_dir} ({n_params / 1e6:.1f}M parameters), prompt {args.prompt_len} tokens, "
              f"{args.new_tokens} new tokens, {args.threads} threads, {args.dtype}, torch {torch.__version__}")
        print(f"{'batch':>5} | {'ours prefill':>12} {'HF prefill':>10} {'ratio':>6} | "
              f"{'ours decode':>11} {'HF decode':>9} {'ratio':>6}   (tokens/s)")
        g = torch.Generator().manual_seed(0)
        for batch in (1, 16):
            prompts = torch.randint(3, vocab, (batch, args.prompt_len), generator=g).tolist()
            ours_p, ours_d = run_ours(args.bench, model_dir, batch, args.prompt_len, args.new_tokens, args.threads, args.dtype)
            ref_p, ref_d = run_reference(model, prompts, args.new_tokens)
            print(f"{batch:>5} | {ours_p:>12.0f} {ref_p:>10.0f} {ours_p / ref_p:>6.2f} | "
                  f"{ours_d:>11.1f} {ref_d:>9.1f} {ours_d / ref_d:>6.2f}")


if __name__ == "__main__":
    main()
