"""Weight sync to a rollout worker in its own process (`r1 rollout serve`, `r1 rollout push`) over loopback.

After a push the worker samples exactly what local sampling with the pushed policy gives, and refuses the old
version; a delta push sends only the changed tensor; a push cut off mid-bucket (its client killed) or with a
corrupted bucket leaves the worker serving the version it had. The raw pushes speak the protocol of
docs/distributed.md from Python (rollout_wire.py).
"""
import os
import shutil
import signal
import socket

import pytest
from safetensors.torch import load_file, save_file

from r1_cli import r1, start_rollout_worker, tiny_arithmetic_model, write_auth_key, write_jsonl
from rollout_wire import authenticate, begin_push, bucket_frame, weights_held

SAMPLING = ["--num-samples", 3, "--max-new-tokens", 16, "--temperature", 0.9, "--top-p", 0.95, "--seed", 7,
            "--template", "chatml", "--quiet"]
CHANGED = "model.layers.1.mlp.up_proj.weight"  # the tensor the delta version changes


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("weight_sync")
    v0 = tiny_arithmetic_model(d)
    # Version 1: the same architecture and tokenizer, every weight different.
    v1 = d / "v1"
    shutil.copytree(v0, v1)
    other = d / "other"
    r1("model", "init", "--arch", "qwen2", "--preset", "tiny", "--out", other, "--corpus", d / "corpus.jsonl",
       "--tokenizer-vocab", 300, "--seed", 5)
    shutil.copy(other / "model.safetensors", v1 / "model.safetensors")
    # Version 2: version 1 with one tensor changed.
    v2 = d / "v2"
    shutil.copytree(v1, v2)
    tensors = load_file(v2 / "model.safetensors")
    tensors[CHANGED] = tensors[CHANGED] * 1.5
    save_file(tensors, v2 / "model.safetensors", metadata={"format": "pt"})
    rows = [{"prompt": f"What is {a} + {b}?"} for a, b in [(12, 30), (45, 17), (8, 91)]]
    return {"dir": d, "v0": v0, "v1": v1, "v2": v2, "prompts": write_jsonl(d / "prompts.jsonl", rows),
            "key": write_auth_key(d / "key")}


@pytest.fixture(scope="module")
def worker(setup):
    log = setup["dir"] / "worker.log"
    proc, address = start_rollout_worker(setup["v0"], setup["key"], log)
    yield {"address": address, "port": int(address.rsplit(":", 1)[1]), "log": log}
    proc.terminate()
    assert proc.wait(timeout=60) == 0, log.read_text()


def generate(setup, model, out, *extra, check=True):
    return r1("generate", "--model", model, "--prompts", setup["prompts"], "--output", out, *SAMPLING, *extra,
              check=check)


def remote(setup, worker, model, version, out, check=True):
    return generate(setup, model, out, "--rollout-worker", worker["address"], "--auth-key-file", setup["key"],
                    "--policy-version", version, check=check)


def push(setup, worker, model, version, check=True):
    return r1("rollout", "push", "--model", model, "--rollout-worker", worker["address"], "--auth-key-file",
              setup["key"], "--policy-version", version, "--bucket-mib", 0.05, check=check)


def assert_serves(setup, worker, model, version, tmp_path):
    """The worker samples `version` exactly as local sampling with `model` does, and refuses version - 1."""
    local, far = tmp_path / f"local{version}.jsonl", tmp_path / f"remote{version}.jsonl"
    generate(setup, model, local)
    remote(setup, worker, model, version, far)
    assert far.read_text() == local.read_text()
    old = remote(setup, worker, model, version - 1, tmp_path / "old.jsonl", check=False)
    assert old.returncode == 1
    assert (f"rollout worker {worker['address']}: the peer refused: rollout request: policy version {version - 1} "
            f"asked for, this worker serves version {version}") in old.stderr


def connect(worker, key):
    s = socket.create_connection(("127.0.0.1", worker["port"]), timeout=30)
    s.settimeout(30)
    welcome, session = authenticate(s, key)
    assert welcome["type"] == "welcome"
    return s, session


def test_full_then_delta_push_sample_exactly_as_local(setup, worker, tmp_path):
    out = push(setup, worker, setup["v1"], 1).stdout
    # Norms (ones) and biases (zeros) of two random models are equal: only the 15 matrices go.
    assert f"pushed version 1 to {worker['address']}: delta, 15 of 26 tensors" in out, out
    # 445,440 bytes in buckets of 0.05 MiB (52,428 bytes): the embedding and projections are split across them.
    assert "445440 of 447744 bytes in 9 buckets" in out, out
    assert_serves(setup, worker, setup["v1"], 1, tmp_path)
    assert "now serves policy version 1 (was 0)" in worker["log"].read_text()

    nbytes = load_file(setup["v2"] / "model.safetensors")[CHANGED].numel() * 4
    out = push(setup, worker, setup["v2"], 2).stdout
    assert f"pushed version 2 to {worker['address']}: delta, 1 of 26 tensors, {nbytes} of " in out, out
    assert_serves(setup, worker, setup["v2"], 2, tmp_path)

    stale = push(setup, worker, setup["v1"], 2, check=False)
    assert stale.returncode == 1
    assert ("weights version 2 is the version this worker serves, with other weights; the push is refused, this "
            "worker still serves version 2") in stale.stderr
    # A learner resumed from an earlier checkpoint takes the worker back to an older version.
    out = push(setup, worker, setup["v1"], 1).stdout
    assert f"pushed version 1 to {worker['address']}" in out, out
    assert_serves(setup, worker, setup["v1"], 1, tmp_path)


def half_a_push(worker, key, version):
    """In a child process: starts a push of `version`, sends half of its only bucket and is killed."""
    pid = os.fork()
    if pid == 0:
        try:
            s, session = connect(worker, key)
            held = weights_held(s, session)
            data = os.urandom(next(t["bytes"] for t in held["tensors"] if t["name"] == CHANGED))
            assert begin_push(s, session, held, version, {CHANGED: data})["type"] == "weights_ready"
            bucket = bucket_frame(session, version, 0, [(CHANGED, 0, len(data))], data)
            s.sendall(bucket[:len(bucket) // 2])
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_interrupted_and_corrupted_pushes_leave_the_old_version(setup, worker, tmp_path):
    key = setup["key"].read_text().strip().encode()
    version = connect_and_query(worker, key)["version"]
    model = setup[f"v{version}"]  # the version this module's worker serves now

    half_a_push(worker, key, version + 1)
    assert_serves(setup, worker, model, version, tmp_path)
    assert "truncated: stream ended inside a frame payload" in worker["log"].read_text()

    # A bucket corrupted before it was sealed (the MAC cannot catch it): the commit is refused.
    s, session = connect(worker, key)
    with s:
        held = weights_held(s, session)
        data = bytearray(os.urandom(next(t["bytes"] for t in held["tensors"] if t["name"] == CHANGED)))
        assert begin_push(s, session, held, version + 1, {CHANGED: bytes(data)})["type"] == "weights_ready"
        data[100] ^= 0x01
        s.sendall(bucket_frame(session, version + 1, 0, [(CHANGED, 0, len(data))], bytes(data)))
        s.sendall(session.frame({"type": "weights_commit", "version": version + 1, "buckets": 1}))
        header, _ = session.read_frame(s)
        assert header == {"type": "error", "message": (
            f"weights version {version + 1}: tensor '{CHANGED}' (from bucket 0) does not match its sha256: corrupted "
            f"on the way; the push is refused, this worker still serves version {version}")}
        # The connection stays usable, and the worker holds what it held.
        assert weights_held(s, session)["digest"] == held["digest"]
    assert_serves(setup, worker, model, version, tmp_path)


def connect_and_query(worker, key):
    s, session = connect(worker, key)
    with s:
        return weights_held(s, session)


def test_pushes_that_do_not_fit_are_refused(setup, worker, tmp_path):
    key = setup["key"].read_text().strip().encode()
    s, session = connect(worker, key)
    with s:
        held = weights_held(s, session)
        v = held["version"]
        assert begin_push(s, session, held, v + 1, {"no.such.tensor": b"x"}) == {"type": "error", "message": (
            f"weights version {v + 1}: sent tensor 'no.such.tensor' is not in the version; the push is refused, this "
            f"worker still serves version {v}")}
        s.sendall(session.frame({"type": "weights_commit", "version": v + 1, "buckets": 0}))
        assert session.read_frame(s)[0] == {"type": "error",
                                            "message": "a 'weights_commit' frame without a 'weights_begin'"}
    bigger = tmp_path / "bigger"
    r1("model", "init", "--arch", "qwen2", "--preset", "small", "--out", bigger)
    out = push(setup, worker, bigger, 99, check=False)
    assert out.returncode == 1
    assert f"r1: error: rollout worker {worker['address']}: the policy does not fit the worker's model: " in out.stderr
