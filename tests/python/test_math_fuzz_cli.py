"""Fuzz of `r1 math-check` and `r1 reward score` as processes: JSONL rows whose
strings hold random and adversarial bytes (broken UTF-8 included; the JSON
reader takes such bytes inside strings). Each run must exit 0 before a
deadline and write one valid UTF-8 JSON line per row. R1_FUZZ_SCALE multiplies
the rows (the CTest `slow` variant, py_math_fuzz_cli_long)."""
import json
import os
import random
import subprocess

from r1_cli import R1

SCALE = max(1, int(os.environ.get("R1_FUZZ_SCALE", "1")))
# A hang, not a slow run: generous against the rows' 200 ms budgets.
DEADLINE_S = 120 * SCALE

PIECES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xe2\x82\xac", b"\xed\xa0\x80", b"\xc0\xaf", b"m\xc2\xb2", b"$", b"$$",
          b"\\\\[", b"\\\\]", b"\\\\(", b"\\\\boxed{", b"}", b"{", b"\\\\frac", b"\\\\begin{pmatrix}", b"&", b"<answer>",
          b"</answer>", b"####", b"final answer is ", b"Answer: ", b" and ", b"1,000", b"1 000", b"2,74", b"^",
          b"10^10^10", b"99999999999999999999", b"!", b"%", b"\\\\le", b"<", b"=", b"x", b"(", b")", b"[", b"]", b" ",
          b"\\n", b"\\\\approx", b"\\\\text{"]


def fuzz_string(rng, pieces):
    out = b""
    for _ in range(rng.randrange(pieces + 1)):
        roll = rng.random()
        if roll < 0.2:
            byte = rng.randrange(0x20, 256)  # control characters must be escaped in JSON text
            out += b"\\\\" if byte == 0x5C else b'\\"' if byte == 0x22 else bytes([byte])
        elif roll < 0.4:
            out += str(rng.randrange(100000)).encode()
        else:
            out += rng.choice(PIECES)
    return out


def write_rows(path, rows):
    """Rows of byte strings, written as JSON text without UTF-8 validation."""
    with open(path, "wb") as f:
        for row in rows:
            f.write(b"{" + b", ".join(b'"' + k.encode() + b'": "' + v + b'"' for k, v in row.items()) + b"}\n")


def run_and_read(args, expected_rows):
    result = subprocess.run([R1, *args], capture_output=True, timeout=DEADLINE_S)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    text = result.stdout.decode("utf-8")  # strict: raises on invalid UTF-8
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) == expected_rows
    return lines


def test_math_check_survives_fuzzed_rows(tmp_path):
    rng = random.Random(5)
    rows = [{"gold": fuzz_string(rng, 6), "completion" if i % 2 else "prediction": fuzz_string(rng, 40)}
            for i in range(400 * SCALE)]
    write_rows(tmp_path / "pairs.jsonl", rows)
    verdicts = run_and_read(["math-check", "--input", tmp_path / "pairs.jsonl", "--timeout-ms", "200"], len(rows))
    assert all(set(v) == {"correct", "extracted", "reason", "timed_out"} for v in verdicts)


def test_reward_score_survives_fuzzed_rows(tmp_path):
    rng = random.Random(6)
    rows = [{"answer": fuzz_string(rng, 6), "completion": fuzz_string(rng, 40)} for _ in range(300 * SCALE)]
    write_rows(tmp_path / "rows.jsonl", rows)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"checker": "math", "params": {"timeout_ms": 200}}, {"checker": "format_lenient"}]))
    scored = run_and_read(["reward", "score", "--spec", spec, "--input", tmp_path / "rows.jsonl", "--workers", "2"],
                          len(rows))
    assert all(set(r["components"]) == {"math", "format_lenient"} for r in scored)
