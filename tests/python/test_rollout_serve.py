"""A rollout worker in its own process: `r1 rollout serve` over loopback.

`r1 generate --rollout-worker` samples through the remote worker exactly what
it samples in its own process (token ids, log-probs, finish reasons, text),
and the worker keeps serving good learners while bad clients are refused: a
wrong key, garbage bytes, an oversized or truncated frame, a client that
dribbles bytes. The raw clients and workers below speak the protocol of
docs/distributed.md from Python (rollout_wire.py), so the test also checks
that document.
"""
import json
import os
import random
import secrets
import socket
import struct
import threading
import time

import pytest

from r1_cli import r1, start_rollout_worker, tiny_arithmetic_model, write_auth_key, write_jsonl
from rollout_wire import Session, authenticate, frame, preamble, proof, read_exact, read_frame, read_to_end, session_keys

HANDSHAKE_TIMEOUT = 5  # seconds the worker gives a client to authenticate
SAMPLING = ["--num-samples", 3, "--max-new-tokens", 20, "--temperature", 0.9, "--top-p", 0.95, "--top-k", 40,
            "--min-p", 0.02, "--stop", "h", "--seed", 11, "--template", "chatml", "--quiet"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("rollout_serve")
    model = tiny_arithmetic_model(d)
    rows = [{"prompt": f"What is {a} + {b}?"} for a, b in [(12, 30), (45, 17), (8, 91), (66, 66), (23, 5)]]
    return {"dir": d, "model": model, "prompts": write_jsonl(d / "prompts.jsonl", rows), "key": write_auth_key(d / "key")}


@pytest.fixture(scope="module")
def worker(setup):
    log = setup["dir"] / "worker.log"
    proc, address = start_rollout_worker(setup["model"], setup["key"], log, "--handshake-timeout", HANDSHAKE_TIMEOUT)
    yield {"address": address, "port": int(address.rsplit(":", 1)[1]), "log": log, "proc": proc}
    proc.terminate()
    assert proc.wait(timeout=60) == 0, log.read_text()


def generate(setup, out, *extra, check=True):
    return r1("generate", "--model", setup["model"], "--prompts", setup["prompts"], "--output", out, *SAMPLING, *extra,
              check=check)


def remote(setup, worker, out, key=None, check=True):
    return generate(setup, out, "--rollout-worker", worker["address"], "--auth-key-file", key or setup["key"],
                    check=check)


def assert_served(setup, worker, tmp_path):
    """A good learner is still served, and gets what local sampling gives."""
    local, far = tmp_path / "local_check.jsonl", tmp_path / "remote_check.jsonl"
    remote(setup, worker, far)
    generate(setup, local)
    assert far.read_text() == local.read_text()


def connect(worker):
    s = socket.create_connection(("127.0.0.1", worker["port"]), timeout=30)
    s.settimeout(30)  # no read in this test waits longer
    return s


def refusal(s):
    """The worker's preamble and error frame, then the end of the connection."""
    assert read_exact(s, 8) == preamble()
    header, _ = read_frame(s)
    assert header["type"] == "error"
    assert read_to_end(s) == b""
    return header["message"]


def log_has(worker, text):
    """Whether the worker logged `text`; the log is written before the socket is closed."""
    return text in worker["log"].read_text()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote_worker_samples_exactly_what_local_sampling_does(setup, worker, tmp_path):
    local, far = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    generate(setup, local)
    remote(setup, worker, far)
    rows = [json.loads(line) for line in far.read_text().splitlines()]
    assert len(rows) == 15 and {r["finish_reason"] for r in rows} == {"stop", "length"}
    # Token ids, log-probs (printed in full), finish reasons and text, byte for byte.
    assert far.read_text() == local.read_text()
    assert log_has(worker, "answered step 0 with 15 samples")


def test_large_result_equals_local_sampling(setup, worker, tmp_path):
    """A result of more than 128 KiB reaches the learner in many reads, and still equals local sampling."""
    big = ["generate", "--model", setup["model"], "--prompts", setup["prompts"], "--num-samples", 16,
           "--max-new-tokens", 96, "--seed", 3, "--quiet"]
    local, far = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    r1(*big, "--output", local)
    r1(*big, "--output", far, "--rollout-worker", worker["address"], "--auth-key-file", setup["key"])
    assert far.read_text() == local.read_text()
    assert len(far.read_bytes()) > 128 * 1024


def test_python_learner_with_the_key_is_served(setup, worker):
    key = setup["key"].read_text().strip().encode()
    with connect(worker) as s:
        welcome, session = authenticate(s, key)
        assert welcome["type"] == "welcome"
        request = {"step": 4, "policy_version": 0, "prompts": [{"prompt_index": 9, "prompt_ids": [5, 6, 7]}],
                   "sampling": {"num_generations": 2, "max_completion_length": 5, "temperature": 1.0, "top_k": 0,
                                "top_p": 1.0, "min_p": 0.0, "stop_token_ids": [], "stop_strings": [], "seed": 3}}
        s.sendall(session.frame({"type": "rollout_request", "request": request}))
        header, _ = session.read_frame(s)
        assert header["type"] == "rollout_result"
        samples = header["result"]["samples"]
        assert [(x["prompt_index"], x["sample_index"]) for x in samples] == [(9, 0), (9, 1)]
        assert header["result"]["step"] == 4
        # Pipelined: another version than the worker holds is refused, and the request after it is served.
        s.sendall(session.frame({"type": "rollout_request", "request": {**request, "policy_version": 1}}) +
                  session.frame({"type": "rollout_request", "request": {**request, "step": 5}}))
        header, _ = session.read_frame(s)
        assert header == {"type": "error", "message": "rollout request: policy version 1 asked for, this worker "
                                                      "serves version 0"}
        header, _ = session.read_frame(s)
        assert header["type"] == "rollout_result" and header["result"]["step"] == 5
        for sample in header["result"]["samples"] + samples:
            del sample["generation_ms"]  # the one field that is a measurement
        assert header["result"]["samples"] == samples


def test_wrong_key_is_refused_before_any_request_is_read(setup, worker, tmp_path):
    wrong = tmp_path / "wrong_key"
    wrong.write_text(secrets.token_hex(32))
    wrong.chmod(0o600)
    out = remote(setup, worker, tmp_path / "x.jsonl", key=wrong, check=False)
    assert out.returncode == 1
    assert (f"r1: error: no rollout worker left: rollout worker {worker['address']}: the peer refused: authentication failed: the learner's "
            "proof does not match this worker's key") in out.stderr
    # A raw client pipelines a request after its wrong proof: the worker never answers it.
    with connect(worker) as s:
        nonce = os.urandom(32)
        s.sendall(preamble() + frame({"type": "hello", "nonce": nonce.hex()}))
        assert read_exact(s, 8) == preamble()
        read_frame(s)
        s.sendall(frame({"type": "proof", "proof": "00" * 32}) + frame({"type": "rollout_request", "request": {}}))
        header, _ = read_frame(s)
        assert header["type"] == "error" and header["message"].startswith("authentication failed")
        assert read_to_end(s) == b""
    assert_served(setup, worker, tmp_path)


def test_tampered_frame_after_the_handshake_drops_the_connection(setup, worker, tmp_path):
    """Frames after the handshake carry a MAC: one flipped byte of an authenticated learner's request (what an
    on-path attacker would do to hijack it) makes the worker drop that connection, and it keeps serving others."""
    key = setup["key"].read_text().strip().encode()
    request = {"step": 1, "policy_version": 0, "prompts": [{"prompt_index": 0, "prompt_ids": [5, 6]}],
               "sampling": {"num_generations": 1, "max_completion_length": 2, "temperature": 1.0, "top_k": 0,
                            "top_p": 1.0, "min_p": 0.0, "stop_token_ids": [], "stop_strings": [], "seed": 3}}
    with connect(worker) as s:
        welcome, session = authenticate(s, key)
        assert welcome["type"] == "welcome"
        data = bytearray(session.frame({"type": "rollout_request", "request": request}))
        data[data.index(b'"step": 1') + 8] ^= 0x01  # step 1 becomes step 0
        s.sendall(bytes(data))
        header, _ = session.read_frame(s)  # the refusal is sealed too
        assert header["type"] == "error"
        assert header["message"] == ("frame 0 after the handshake failed its integrity check (its MAC does not "
                                     "match): it was altered on the way or not sent by the authenticated peer")
        assert read_to_end(s) == b""
    assert log_has(worker, "rejected: frame 0 after the handshake failed its integrity check")
    with connect(worker) as s:  # a frame without its MAC is refused just the same
        welcome, session = authenticate(s, key)
        s.sendall(frame({"type": "rollout_request", "request": request}) + b"\0" * 32)
        assert session.read_frame(s)[0]["message"].startswith("frame 0 after the handshake failed its integrity")
    assert_served(setup, worker, tmp_path)


def test_key_file_readable_by_others_is_refused(setup, worker, tmp_path):
    loose = tmp_path / "loose_key"
    loose.write_text(setup["key"].read_text())
    loose.chmod(0o644)
    out = remote(setup, worker, tmp_path / "x.jsonl", key=loose, check=False)
    assert out.returncode == 1
    assert f"{loose}: the auth key file has mode 0644; it must be readable by its owner only" in out.stderr
    serve = r1("rollout", "serve", "--listen", "127.0.0.1:0", "--auth-key-file", loose, "--model", setup["model"],
               check=False)
    assert serve.returncode == 1 and "mode 0644" in serve.stderr


def test_garbage_and_oversized_and_truncated_frames_are_refused(setup, worker, tmp_path):
    with connect(worker) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refusal(s) == 'not an r1 rollout peer: the stream starts with bytes 0x47455420, expected "R1RW"'
    with connect(worker) as s:
        s.sendall(preamble(version=7))
        assert refusal(s) == "the peer speaks r1 rollout protocol version 7, this build speaks 2"
    with connect(worker) as s:  # before authentication the limit is a few KiB
        s.sendall(preamble() + struct.pack(">II", 0xFFFFFFFF, 0) + b"{")
        assert refusal(s) == "frame header of 4294967295 bytes exceeds the limit of 4096 bytes"
    with connect(worker) as s:  # after it, the request limit
        welcome, session = authenticate(s, setup["key"].read_text().strip().encode())
        assert welcome["type"] == "welcome"
        s.sendall(struct.pack(">II", 1 << 30, 0) + b"{")
        header, _ = session.read_frame(s)
        assert header["message"] == "frame header of 1073741824 bytes exceeds the limit of 67108864 bytes"
        assert read_to_end(s) == b""
    with connect(worker) as s:
        s.sendall(preamble() + struct.pack(">II", 100, 0) + b'{"type":"h')
        s.shutdown(socket.SHUT_WR)
        assert read_to_end(s) == b""
    assert log_has(worker, "truncated: stream ended inside a frame header (10 of 100 bytes)")
    with connect(worker) as s:
        s.sendall(preamble() + frame({"type": "proof", "proof": "00"}))
        assert refusal(s) == "expected a 'hello' frame, got 'proof'"
    with connect(worker) as s:  # what a peer sends cannot forge lines of the worker's log
        s.sendall(preamble() + frame({"type": "x\nr1 rollout serve: 10.0.0.1:1: authenticated"}))
        assert refusal(s) == "expected a 'hello' frame, got 'x\nr1 rollout serve: 10.0.0.1:1: authenticated'"
    assert log_has(worker, "expected a 'hello' frame, got 'x?r1 rollout serve: 10.0.0.1:1: authenticated'")
    assert not any(line.startswith("r1 rollout serve: 10.0.0.1:1") for line in worker["log"].read_text().splitlines())
    assert_served(setup, worker, tmp_path)


def test_slow_client_is_dropped_while_others_are_served(setup, worker, tmp_path):
    s = connect(worker)
    dropped = threading.Event()

    def dribble():  # one byte of a valid hello every 0.2 s: not done within the handshake timeout
        try:
            for byte in preamble() + frame({"type": "hello", "nonce": "ab" * 32}):
                s.send(bytes([byte]))
                time.sleep(0.2)
        except OSError:  # the worker closed the connection
            dropped.set()

    slow = threading.Thread(target=dribble)
    slow.start()
    assert_served(setup, worker, tmp_path)  # meanwhile (it takes less than the handshake timeout)
    slow.join(timeout=120)
    s.close()
    assert dropped.is_set()
    assert log_has(worker, f"the handshake did not complete within {HANDSHAKE_TIMEOUT} s")


def misbehaving_worker_error(setup, tmp_path, welcome_key, answer, tamper=False):
    """The error `r1 generate --rollout-worker` reports about a Python worker that proves itself with
    `welcome_key` and then sends the frame of header answer(request header), or nothing when that is None;
    with `tamper`, one byte of that frame is flipped after it was sealed."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(60)

    def serve_one():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(60)
            assert read_exact(conn, 8) == preamble()
            hello, _ = read_frame(conn)
            worker_nonce = os.urandom(32)
            conn.sendall(preamble() + frame({"type": "challenge", "nonce": worker_nonce.hex()}))
            read_frame(conn)
            learner_nonce = bytes.fromhex(hello["nonce"])
            conn.sendall(frame({"type": "welcome",
                                "proof": proof(welcome_key, b"r1 worker", learner_nonce, worker_nonce)}))
            to_worker, to_learner = session_keys(welcome_key, learner_nonce, worker_nonce)
            session = Session(to_learner, to_worker)
            try:
                request, _ = session.read_frame(conn)
            except ConnectionError:  # the learner refused the welcome and closed
                return
            reply = answer(request)
            if reply is not None:
                data = bytearray(session.frame(reply))
                if tamper:
                    data[10] ^= 0x20
                conn.sendall(bytes(data))
            read_to_end(conn)  # until the learner gives up

    thread = threading.Thread(target=serve_one)
    thread.start()
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    out = generate(setup, tmp_path / "x.jsonl", "--rollout-worker", address, "--auth-key-file", setup["key"],
                   "--worker-timeout", 1, check=False)
    thread.join(timeout=60)
    listener.close()
    assert out.returncode == 1
    prefix = f"r1: error: no rollout worker left: rollout worker {address}: "
    assert prefix in out.stderr, out.stderr
    return out.stderr.split(prefix, 1)[1].strip()


def test_errors_name_the_worker(setup, worker, tmp_path):
    port = free_port()
    out = generate(setup, tmp_path / "x.jsonl", "--rollout-worker", f"127.0.0.1:{port}", "--auth-key-file",
                   setup["key"], check=False)
    assert out.returncode == 1
    assert f"r1: error: no rollout worker left: rollout worker 127.0.0.1:{port}: cannot connect: Connection refused" in out.stderr

    key = setup["key"].read_text().strip().encode()
    assert misbehaving_worker_error(setup, tmp_path, key, lambda request: None) == "did not answer within 1 s"
    assert (misbehaving_worker_error(setup, tmp_path, b"an impostor's key", lambda request: None) ==
            "authentication failed: the worker's proof does not match this learner's key")

    def wrong_version(request):
        r = request["request"]
        result = {"step": r["step"], "policy_version": r["policy_version"] + 5, "prefill_tokens": 0,
                  "completion_tokens": 0, "prefill_seconds": 0, "decode_seconds": 0, "samples": []}
        return {"type": "rollout_result", "result": result}

    assert (misbehaving_worker_error(setup, tmp_path, key, wrong_version) ==
            "answered step 0 with policy version 5, asked for step 0 with version 0")
    # A result altered on the way: the learner's check of its MAC refuses it.
    assert misbehaving_worker_error(setup, tmp_path, key, wrong_version, tamper=True) == (
        "frame 0 after the handshake failed its integrity check (its MAC does not match): it was altered on the way "
        "or not sent by the authenticated peer")


def test_many_garbage_clients_at_once(setup, worker, tmp_path):
    """Random bytes from 24 clients at once, half after a valid preamble: each is refused or closed, and the
    worker goes on serving."""
    rng = random.Random(5)
    sockets = [connect(worker) for _ in range(24)]
    for i, s in enumerate(sockets):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        s.sendall((preamble() if i % 2 else b"") + junk)
        s.shutdown(socket.SHUT_WR)  # a frame the junk announced ends here, truncated
    for s in sockets:
        with s:
            data = read_to_end(s)
            assert data == b"" or data.startswith(preamble())
    assert_served(setup, worker, tmp_path)


def test_listen_address_errors(setup, worker):
    bad = r1("rollout", "serve", "--listen", "nonsense", "--auth-key-file", setup["key"], "--model", setup["model"],
             check=False)
    assert bad.returncode == 1
    assert ("r1: error: --listen: 'nonsense' must be HOST:PORT (e.g. 127.0.0.1:5555 or [::1]:5555)"
            in bad.stderr)
    taken = r1("rollout", "serve", "--listen", worker["address"], "--auth-key-file", setup["key"], "--model",
               setup["model"], check=False)
    assert taken.returncode == 1
    assert (f"r1: error: --listen {worker['address']}: cannot listen on {worker['address']}: Address already in use"
            in taken.stderr)


def test_worker_address_and_key_go_together(setup, worker, tmp_path):
    alone = generate(setup, tmp_path / "x.jsonl", "--rollout-worker", worker["address"], check=False)
    assert alone.returncode == 2 and "r1: error: --rollout-worker requires --auth-key-file" in alone.stderr
    key_only = generate(setup, tmp_path / "x.jsonl", "--auth-key-file", setup["key"], check=False)
    assert key_only.returncode == 2 and "r1: error: --auth-key-file requires --rollout-worker" in key_only.stderr
