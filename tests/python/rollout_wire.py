"""The rollout workers' protocol (docs/distributed.md), spoken from Python: by test_rollout_serve.py to play
well- and ill-behaved learners and workers, and by bench/bench_rollout_serve.py."""
import hashlib
import hmac
import json
import os
import struct


def preamble(version=1):
    return b"R1RW" + struct.pack(">I", version)


def frame(header, payload=b""):
    h = json.dumps(header).encode()
    return struct.pack(">II", len(h), len(payload)) + h + payload


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_frame(s):
    header_len, payload_len = struct.unpack(">II", read_exact(s, 8))
    return json.loads(read_exact(s, header_len)), read_exact(s, payload_len)


def read_to_end(s):
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def proof(key, label, learner_nonce, worker_nonce):
    return hmac.new(key, label + b"\0" + learner_nonce + worker_nonce, hashlib.sha256).hexdigest()


def authenticate(s, key):
    """Runs the learner's side of the handshake; returns the worker's welcome (or error) header."""
    learner_nonce = os.urandom(32)
    s.sendall(preamble() + frame({"type": "hello", "nonce": learner_nonce.hex()}))
    assert read_exact(s, 8) == preamble()
    challenge, _ = read_frame(s)
    assert challenge["type"] == "challenge"
    worker_nonce = bytes.fromhex(challenge["nonce"])
    s.sendall(frame({"type": "proof", "proof": proof(key, b"r1 learner", learner_nonce, worker_nonce)}))
    welcome, _ = read_frame(s)
    if welcome["type"] == "welcome":  # the worker proves it holds the key too
        assert welcome["proof"] == proof(key, b"r1 worker", learner_nonce, worker_nonce)
    return welcome
