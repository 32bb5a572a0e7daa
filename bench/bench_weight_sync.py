"""Weight-sync throughput to a rollout worker in its own process (`r1 rollout push` to `r1 rollout serve`).

Usage: .venv/bin/python bench/bench_weight_sync.py [--r1 build/r1] [--preset qwen2.5-0.5b] [--dtype bfloat16]
                                                   [--bucket-mib 256]
Makes three random models of one preset (`r1 model init`): the worker serves the first; a full push of the
second (a new seed: every matrix differs; norms and biases, being ones and zeros, do not), then a delta push of
the second with one decoder layer changed. Prints bytes, time and GB/s of each push's transfer (first bucket to the
worker's acknowledgement, which includes the worker's hashing and the atomic swap) and of the learner's
hashing of its tensors. A measuring tool, not a test: nothing about speed is asserted.
"""
import argparse
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from safetensors.torch import load_file, save_file

LINE = re.compile(r"(full|delta), (\d+) of (\d+) tensors, (\d+) of (\d+) bytes in (\d+) buckets; "
                  r"digests ([\d.]+) s, transfer ([\d.]+) s")


def init(r1, preset, dtype, seed, out):
    subprocess.run([r1, "model", "init", "--arch", "qwen2", "--preset", preset, "--dtype", dtype, "--out", out,
                    "--seed", str(seed)], check=True, capture_output=True)


def one_layer_changed(src, dst):
    shutil.copytree(src, dst)
    files = sorted(dst.glob("*.safetensors"))
    for f in files:
        tensors = load_file(f)
        for name in [n for n in tensors if n.startswith("model.layers.0.")]:
            tensors[name] = tensors[name] * 1.5
        save_file(tensors, f, metadata={"format": "pt"})


def push(args, address, key, model, version):
    out = subprocess.run([args.r1, "rollout", "push", "--model", model, "--rollout-worker", address,
                          "--auth-key-file", key, "--policy-version", str(version), "--bucket-mib",
                          str(args.bucket_mib)], check=True, capture_output=True, text=True).stdout
    kind, sent, total, sent_bytes, total_bytes, buckets, digests, transfer = LINE.search(out).groups()
    sent_bytes, transfer, digests = int(sent_bytes), float(transfer), float(digests)
    print(f"| {kind} | {sent} of {total} | {sent_bytes:,} of {int(total_bytes):,} | {buckets} | {transfer:.3f} | "
          f"{sent_bytes / max(transfer, 1e-6) / 1e9:.3f} | {digests:.3f} | {int(total_bytes) / max(digests, 1e-6) / 1e9:.3f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--preset", default="qwen2.5-0.5b")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--bucket-mib", type=float, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init(args.r1, args.preset, args.dtype, 1, tmp / "v0")
        init(args.r1, args.preset, args.dtype, 2, tmp / "v1")
        one_layer_changed(tmp / "v1", tmp / "v2")
        key = tmp / "key"
        key.write_text(secrets.token_hex(32))
        key.chmod(0o600)
        worker = subprocess.Popen([args.r1, "rollout", "serve", "--listen", "127.0.0.1:0", "--auth-key-file", key,
                                   "--model", tmp / "v0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True)
        try:
            address = worker.stdout.readline().split()[-1]
            print(f"{args.preset} ({args.dtype}), buckets of {args.bucket_mib:g} MiB, loopback\n")
            print("| push | tensors sent | bytes sent | buckets | transfer s | GB/s | learner hashing s | hashing GB/s |")
            print("|---|---|---|---|---|---|---|---|")
            push(args, address, key, tmp / "v1", 1)
            push(args, address, key, tmp / "v2", 2)
        finally:
            worker.terminate()
            worker.wait(timeout=120)


if __name__ == "__main__":
    main()
