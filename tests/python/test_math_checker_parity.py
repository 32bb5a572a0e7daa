"""Our maths checker (`r1 math-check`) against math-verify.

1. Every MATH-500 reference solution's last \\boxed{} answer must equal the
   gold answer (100%).
2. GSM8K gold answers must equal themselves in other forms ("1,000", "$5").
3. On deterministic perturbations of MATH-500 gold answers (math_pairs.py),
   agreement with math-verify must be at least 99%, and every disagreement
   must be listed with an argued verdict in tests/data/math_disagreements.jsonl.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import math_pairs  # noqa: E402
from r1_cli import math_check  # noqa: E402

ROOT = Path(os.environ.get("R1_ROOT", "."))
DISAGREEMENTS = ROOT / "tests" / "data" / "math_disagreements.jsonl"


def math_verify_equal(gold, prediction):
    from math_verify import parse, verify
    return bool(verify(parse("\\boxed{" + gold + "}"), parse("\\boxed{" + prediction + "}")))


def test_math500_reference_solutions_match_gold():
    rows = math_pairs.load_jsonl(math_pairs.MATH500)
    pairs = [{"gold": r["answer"], "completion": r["solution"]} for r in rows]
    verdicts = math_check(pairs, "--no-last-number-fallback")
    misses = [(r["unique_id"], r["answer"], v["extracted"], v["reason"])
              for r, v in zip(rows, verdicts) if not v["correct"]]
    assert not misses, "\n".join(map(str, misses))


def test_gsm8k_answers_equal_their_other_forms():
    rows = math_pairs.load_jsonl(math_pairs.GSM8K)
    pairs, expected = [], []
    for r in rows:
        n = math_pairs.gsm8k_gold(r)
        pairs.append({"gold": r["answer"], "completion": r["answer"]})
        expected.append(True)
        for form in math_pairs.gsm8k_forms(n):
            pairs.append({"gold": n, "prediction": form})
            expected.append(True)
        pairs.append({"gold": n, "prediction": str(float(n) + 1)})
        expected.append(False)
    verdicts = math_check(pairs)
    wrong = [(p, v["reason"]) for p, v, e in zip(pairs, verdicts, expected) if v["correct"] != e]
    assert not wrong, "\n".join(map(str, wrong[:50]))


def test_perturbed_answers_agree_with_math_verify():
    pairs = math_pairs.math500_pairs()
    ours = [v["correct"] for v in math_check([{"gold": p["gold"], "prediction": p["prediction"]} for p in pairs])]
    theirs = [math_verify_equal(p["gold"], p["prediction"]) for p in pairs]
    listed = {}
    for line in DISAGREEMENTS.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            assert d["verdict"] in ("ours-right", "theirs-right"), d
            assert d["why"].strip(), d
            listed[(d["gold"], d["prediction"])] = d
    disagreements = [(p, o, t) for p, o, t in zip(pairs, ours, theirs) if o != t]
    unlisted = [json.dumps({"gold": p["gold"], "prediction": p["prediction"], "kind": p["kind"], "ours": o,
                            "theirs": t}) for p, o, t in disagreements
                if (p["gold"], p["prediction"]) not in listed or listed[(p["gold"], p["prediction"])]["ours"] != o]
    assert not unlisted, "disagreements not in %s:\n%s" % (DISAGREEMENTS, "\n".join(unlisted))
    agreement = 1 - len(disagreements) / len(pairs)
    print(f"agreement with math-verify: {agreement:.4f} on {len(pairs)} pairs, {len(disagreements)} disagreements")
    assert agreement >= 0.99
