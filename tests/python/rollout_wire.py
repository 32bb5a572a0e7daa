"""The rollout workers' protocol (docs/distributed.md), spoken from Python: by test_rollout_serve.py to play
well- and ill-behaved learners and workers, and by bench/bench_rollout_serve.py."""
import hashlib
import hmac
import json
import os
import struct


def preamble(version=2):
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


def session_keys(key, learner_nonce, worker_nonce):
    """(learner-to-worker, worker-to-learner) frame keys of a connection."""
    return tuple(hmac.new(key, label + b"\0" + learner_nonce + worker_nonce, hashlib.sha256).digest()
                 for label in (b"r1 session learner to worker", b"r1 session worker to learner"))


class Session:
    """One side of an authenticated connection: frames out carry their MAC, frames in are checked."""

    def __init__(self, send_key, receive_key):
        self.send_key, self.receive_key = send_key, receive_key
        self.sent = self.received = 0

    def mac(self, key, seq, data):
        return hmac.new(key, struct.pack(">Q", seq) + data, hashlib.sha256).digest()

    def frame(self, header, payload=b""):
        data = frame(header, payload)
        self.sent += 1
        return data + self.mac(self.send_key, self.sent - 1, data)

    def read_frame(self, s):
        prefix = read_exact(s, 8)
        header_len, payload_len = struct.unpack(">II", prefix)
        header, payload = read_exact(s, header_len), read_exact(s, payload_len)
        mac = read_exact(s, 32)
        self.received += 1
        if not hmac.compare_digest(mac, self.mac(self.receive_key, self.received - 1, prefix + header + payload)):
            raise ValueError(f"frame {self.received - 1} failed its integrity check")
        return json.loads(header), payload


def authenticate(s, key):
    """Runs the learner's side of the handshake; returns the worker's welcome (or error) header and the
    session that frames after it go through."""
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
    to_worker, to_learner = session_keys(key, learner_nonce, worker_nonce)
    return welcome, Session(to_worker, to_learner)


def version_digest(tensors):
    """The digest of a policy version: SHA-256 over each tensor's name, dtype, shape and SHA-256, in name order."""
    data = b""
    for t in tensors:
        shape = "[" + ",".join(str(n) for n in t["shape"]) + "]"
        data += t["name"].encode() + b"\0" + t["dtype"].encode() + b"\0" + shape.encode() + b"\0"
        data += bytes.fromhex(t["sha256"])
    return hashlib.sha256(data).hexdigest()


def weights_held(s, session):
    """The worker's weights_held header: its version and per-tensor digests."""
    s.sendall(session.frame({"type": "weights_query"}))
    header, _ = session.read_frame(s)
    assert header["type"] == "weights_held", header
    return header


def begin_push(s, session, held, version, new_bytes):
    """Starts a delta push of `version` on top of `held` with the tensors in new_bytes ({name: bytes}) replaced;
    returns the worker's answer to it."""
    tensors = [dict(t) for t in held["tensors"]]
    for t in tensors:
        if t["name"] in new_bytes:
            t["sha256"] = hashlib.sha256(new_bytes[t["name"]]).hexdigest()
    s.sendall(session.frame({"type": "weights_begin", "version": version, "base_version": held["version"],
                             "digest": version_digest(tensors), "tensors": tensors, "sent": sorted(new_bytes)}))
    header, _ = session.read_frame(s)
    return header


def bucket_frame(session, version, index, pieces, payload):
    """A weights_bucket frame, sealed; pieces are (name, offset, bytes) in payload order."""
    return session.frame({"type": "weights_bucket", "version": version, "index": index,
                          "pieces": [{"name": n, "offset": o, "bytes": b} for n, o, b in pieces]}, payload)
