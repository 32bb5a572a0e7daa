"""`r1 reward score` against the Python references: open-r1's format and
tag-count rewards, TinyZero's countdown scorer, verl's GSM8K strict scorer
and TRL's soft overlong punishment / repetition penalty."""
import json
import re
import subprocess

import pytest
from trl.rewards import get_repetition_penalty_reward, get_soft_overlong_punishment

from r1_cli import R1


# --- reference implementations (reproduced where no package ships them) ---
def open_r1_format(text):
    pattern = r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"
    return 1.0 if re.match(pattern, text, re.DOTALL | re.MULTILINE) else 0.0


def open_r1_tag_count(text):
    tags = ["<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"]
    return sum(0.25 for t in tags if text.count(t) == 1)


def tinyzero_countdown(completion, numbers, target, format_score=0.1, score=1.0):
    # TinyZero's compute_score sees prompt + completion and cuts at "Assistant:".
    solution = ("Assistant:" + completion).split("Assistant:", 1)[1].split("\n")[-1]
    matches = list(re.finditer(r"<answer>(.*?)</answer>", solution))
    if not matches:
        return 0.0
    equation = matches[-1].group(1).strip()
    if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(numbers):
        return format_score
    try:
        if not re.match(r"^[\d+\-*/().\s]+$", equation):
            return format_score
        result = eval(equation, {"__builtins__": None}, {})
        return score if abs(result - target) < 1e-5 else format_score
    except Exception:
        return format_score


def verl_gsm8k_strict(completion, gold):
    found = re.findall(r"#### (\-?[0-9\.\,]+)", completion)
    if not found:
        return 0.0
    return 1.0 if float(found[-1].replace(",", "")) == float(gold) else 0.0


def words_as_ids(text):
    vocab = {}
    return [vocab.setdefault(w, len(vocab)) for w in text.lower().split()]


ROWS = [
    {"completion": "<think>\n44 - 19 = 25\n</think>\n<answer>(44 - 19) * 2 + 1</answer>",
     "numbers": [44, 19, 2, 1], "target": 51, "answer": "#### 51", "num_tokens": 70},
    {"completion": "<think>\nhmm\n</think>\n<answer>\n44 + 19\n</answer>",
     "numbers": [44, 19], "target": 63, "answer": "63", "num_tokens": 85},
    {"completion": "<think>try try try try</think> <answer>44 + 19 + 2</answer>",
     "numbers": [44, 19, 3], "target": 65, "answer": "x #### 1,000", "num_tokens": 99},
    {"completion": "so so so so so so #### 1,000\n<answer>7 / 0</answer>",
     "numbers": [7, 0], "target": 1, "answer": "1000", "num_tokens": 120},
    {"completion": "<answer>10 / 4 * 2</answer>", "numbers": [10, 4, 2], "target": 5, "answer": "5",
     "num_tokens": 80},
]

SPEC = {"rewards": [
    {"checker": "format", "weight": 0.5},
    {"checker": "tag_count"},
    {"checker": "countdown", "name": "acc"},
    {"checker": "gsm8k", "weight": 2.0},
    {"checker": "overlong", "params": {"max_completion_length": 100, "overlong_buffer": 20}},
    {"checker": "repetition", "params": {"ngram_size": 2, "max_penalty": -0.5}},
]}


def expected(row):
    ids = [[0] * row["num_tokens"]]
    return {
        "format": open_r1_format(row["completion"]),
        "tag_count": open_r1_tag_count(row["completion"]),
        "acc": tinyzero_countdown(row["completion"], row["numbers"], row["target"]),
        "gsm8k": verl_gsm8k_strict(row["completion"], row["answer"].split("####")[-1].replace(",", "")),
        "overlong": get_soft_overlong_punishment(100, 20)(ids)[0],
        "repetition": get_repetition_penalty_reward(2, -0.5)([words_as_ids(row["completion"])])[0],
    }


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def run(*args):
    return subprocess.run([R1, "reward", "score", *args], capture_output=True, text=True)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_scores_match_references(tmp_path, workers):
    spec, rows, out = tmp_path / "spec.json", tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    spec.write_text(json.dumps(SPEC))
    write(rows, ROWS)
    proc = run("--spec", str(spec), "--input", str(rows), "--output", str(out), "--workers", workers)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(ROWS)
    weights = {"format": 0.5, "gsm8k": 2.0}
    for row, got in zip(ROWS, lines):
        want = expected(row)
        assert got["components"] == pytest.approx(want), row["completion"]
        total = sum(weights.get(k, 1.0) * v for k, v in want.items())
        assert got["total"] == pytest.approx(total)
        assert set(got["details"]) == set(want)
    # The rows were chosen so every component takes more than one value.
    for name in expected(ROWS[0]):
        assert len({line["components"][name] for line in lines}) > 1, name


def test_bad_row_fails_with_file_and_line_and_writes_nothing(tmp_path):
    spec, rows, out = tmp_path / "spec.json", tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    spec.write_text(json.dumps(SPEC))
    bad = dict(ROWS[0])
    del bad["target"]
    write(rows, [ROWS[0], ROWS[1], bad])
    proc = run("--spec", str(spec), "--input", str(rows), "--output", str(out))
    assert proc.returncode == 1
    assert f"r1: error: {rows}:3: field 'target' is missing" in proc.stderr
    assert sorted(tmp_path.iterdir()) == sorted([rows, spec])  # no output, no temp file

    write(rows, [ROWS[0], "{not json"])
    proc = run("--spec", str(spec), "--input", str(rows), "--output", str(out))
    assert proc.returncode == 1
    assert f"{rows}:2: invalid JSON" in proc.stderr
    assert not out.exists()

    write(rows, [{"numbers": [1], "target": 1}])
    proc = run("--spec", str(spec), "--input", str(rows), "--output", str(out))
    assert proc.returncode == 1
    assert f"{rows}:1: field 'completion' is missing" in proc.stderr
    assert not out.exists()


def test_bad_spec_names_key_and_index(tmp_path):
    spec, rows = tmp_path / "spec.json", tmp_path / "rows.jsonl"
    write(rows, ROWS[:1])
    spec.write_text(json.dumps([{"checker": "format"}, {"checker": "repetition", "params": {"n": 2}}]))
    proc = run("--spec", str(spec), "--input", str(rows))
    assert proc.returncode == 1
    assert f"{spec}: rewards[1] (repetition): params: unknown param 'n'" in proc.stderr


def random_countdown_rows(rng, n):
    """Completions that hit every branch of TinyZero's scorer."""
    rows = []
    for _ in range(n):
        nums = [rng.randint(1, 99) for _ in range(rng.randint(2, 4))]
        ops = [rng.choice("+-*/") for _ in nums[1:]]
        used = list(nums)
        kind = rng.randrange(8)
        if kind == 1:
            used[0] += 1  # a number not given
        elif kind == 2:
            used.append(used[0])  # a number used twice
        elif kind == 3:
            used = used[:-1] or used  # one left out
        expr = str(used[0])
        for op, x in zip(ops + ["+"] * len(used), used[1:]):
            expr = f"({expr} {op} {x})" if rng.random() < 0.5 else f"{expr} {op} {x}"
        if kind == 4:
            expr = expr.replace(" ", "") + " / (" + f"{nums[0]} - {nums[0]}" + ")"
        target = eval(expr) if kind != 4 else 7
        if rng.random() < 0.3:
            target += rng.choice([1, 1e-4, 1e-6])
        answer = f"<answer>{expr}</answer>"
        completion = {
            5: f"<think>\nwork\n</think>\n{answer}\n",       # trailing newline hides it
            6: f"{answer} or <answer>{nums[0]}</answer>",     # last answer wins
            7: f"<think>\nwork\n</think>\n<answer>\n{expr}\n</answer>",
        }.get(kind, f"<think>\nwork\n</think>\n{answer}")
        rows.append({"completion": completion, "numbers": nums, "target": target})
    return rows


def test_countdown_matches_tinyzero_on_random_rows(tmp_path):
    import random

    rows = random_countdown_rows(random.Random(1234), 400)
    spec, path, out = tmp_path / "spec.json", tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    spec.write_text(json.dumps([{"checker": "countdown"}]))
    write(path, rows)
    proc = run("--spec", str(spec), "--input", str(path), "--output", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line)["components"]["countdown"] for line in out.read_text().splitlines()]
    want = [tinyzero_countdown(r["completion"], r["numbers"], r["target"]) for r in rows]
    mismatches = [(r["completion"], g, w) for r, g, w in zip(rows, got, want) if g != pytest.approx(w)]
    assert not mismatches, mismatches[:5]
    assert {0.0, 0.1, 1.0} <= set(want)  # every outcome occurs


def test_cosine_tokens_clipped_matches_trl(tmp_path):
    from trl.rewards import get_cosine_scaled_reward

    cases = [(r"\boxed{\frac{1}{3}}", r"\frac{1}{3}", 50), (r"\boxed{\frac{1}{2}}", r"\frac{1}{3}", 50),
             (r"\boxed{\frac{1}{3}}", r"\frac{1}{3}", 150), (r"\boxed{0.5}", r"\frac{1}{2}", 20),
             (r"\boxed{2}", r"\frac{1}{2}", 0), (r"\boxed{2}", r"\frac{1}{2}", 100)]
    rows = [{"completion": c, "answer": g, "num_tokens": n} for c, g, n in cases]
    spec, path, out = tmp_path / "spec.json", tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    spec.write_text(json.dumps([{"checker": "cosine", "params": {
        "correctness": "math", "max_len": 100, "length_unit": "tokens", "clip_progress": True}}]))
    write(path, rows)
    proc = run("--spec", str(spec), "--input", str(path), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line)["components"]["cosine"] for line in out.read_text().splitlines()]
    want = get_cosine_scaled_reward(max_len=100)([[{"content": c}] for c, _, _ in cases],
                                                 [g for _, g, _ in cases], [[1] * n for _, _, n in cases])
    assert got == pytest.approx(want)
