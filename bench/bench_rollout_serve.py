"""What a rollout worker in its own process (`r1 rollout serve`) costs over loopback.

Usage: .venv/bin/python bench/bench_rollout_serve.py [--r1 build/r1] [--preset tiny] [--threads 1] [--repeats 10]
Starts a worker on a fresh random model, then a Python learner (tests/python/rollout_wire.py) times
TCP connect + the four-message handshake, and requests of a few shapes on one connection: the round
trip against the worker's own sampling time of that request, and the result frame's size. A measuring
tool, not a test: nothing about speed is asserted.
"""
import argparse
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from rollout_wire import authenticate, frame  # noqa: E402

SHAPES = [(8, 1, 1), (8, 16, 64)]  # prompts, samples per prompt, tokens per sample


def request(prompts, g, tokens):
    return {"step": 0, "policy_version": 0,
            "prompts": [{"prompt_index": i, "prompt_ids": [5 + i, 6, 7, 8]} for i in range(prompts)],
            "sampling": {"num_generations": g, "max_completion_length": tokens, "temperature": 1.0, "top_k": 0,
                         "top_p": 1.0, "min_p": 0.0, "stop_token_ids": [], "stop_strings": [], "seed": 3}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--r1", default="build/r1")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--threads", type=int, default=1, help="the worker's CPU threads")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--handshakes", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([args.r1, "model", "init", "--arch", "qwen2", "--preset", args.preset, "--out", tmp / "model",
                        "--seed", "1"], check=True, capture_output=True)
        key = secrets.token_hex(32).encode()
        (tmp / "key").write_bytes(key)
        (tmp / "key").chmod(0o600)
        worker = subprocess.Popen([args.r1, "rollout", "serve", "--listen", "127.0.0.1:0", "--auth-key-file",
                                   tmp / "key", "--model", tmp / "model", "--threads", str(args.threads)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port = int(worker.stdout.readline().rsplit(":", 1)[1])
            run(port, key, args)
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def run(port, key, args):
    def connect():
        return socket.create_connection(("127.0.0.1", port), timeout=600)

    start = time.perf_counter()
    for _ in range(args.handshakes):
        with connect() as s:
            assert authenticate(s, key)[0]["type"] == "welcome"
    per = (time.perf_counter() - start) / args.handshakes
    print(f"{args.preset} model, worker on {args.threads} thread(s), loopback\n")
    print(f"connect + handshake: {1000 * per:.3f} ms (mean of {args.handshakes})\n")
    print("| prompts x G x tokens | round trip ms (best of {0}) | worker sampling ms | transport ms | "
          "result bytes | bytes/token |".format(args.repeats))
    print("|---|---|---|---|---|---|")
    with connect() as s:
        welcome, session = authenticate(s, key)
        assert welcome["type"] == "welcome"
        for prompts, g, tokens in SHAPES:
            message = {"type": "rollout_request", "request": request(prompts, g, tokens)}
            best = None
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                s.sendall(session.frame(message))  # each frame has its own sequence number and MAC
                header, _ = session.read_frame(s)
                elapsed = time.perf_counter() - t0
                assert header["type"] == "rollout_result", header
                if best is None or elapsed < best[0]:
                    best = (elapsed, header)
            elapsed, header = best
            result = header["result"]
            sampling = result["prefill_seconds"] + result["decode_seconds"]
            size = len(frame(header)) + 32  # and its MAC
            n = sum(len(x["token_ids"]) for x in result["samples"])
            print(f"| {prompts} x {g} x {tokens} | {1000 * elapsed:.2f} | {1000 * sampling:.2f} | "
                  f"{1000 * (elapsed - sampling):.2f} | {size} | {size / n:.1f} |")


if __name__ == "__main__":
    main()
