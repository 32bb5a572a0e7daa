"""Deterministic (gold, prediction) pairs for the maths checker: MATH-500 gold
answers in other forms of the same value and in wrong forms. Shared by
test_math_checker_parity.py and bench/bench_math.py."""
import json
import re
from fractions import Fraction
from paths import data_file

MATH500 = data_file("math500/test.jsonl")
GSM8K = data_file("gsm8k/test.jsonl")

FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
INT = re.compile(r"^-?\d+$")


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def split_top_level(s):
    """Splits on commas outside brackets and braces."""
    parts, depth, cur = [], 0, ""
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]


def spaced(gold):
    """Spaces around operators and after commas: "1+2i" -> "1 + 2i"."""
    return re.sub(r"\s*([+=,]|(?<=[\w}])-)\s*", r" \1 ", gold).strip()


def value_of(gold):
    """Exact value of an integer or simple fraction gold answer, else None."""
    if INT.match(gold):
        return Fraction(int(gold))
    m = FRAC.match(gold)
    if m:
        v = Fraction(int(m.group(2)), int(m.group(3)))
        return -v if m.group(1) else v
    return None


def decimal_text(v, digits=10):
    text = f"{float(v):.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def perturb(gold):
    """(prediction, kind) pairs derived from one gold answer."""
    out = [(gold.replace(" ", ""), "no-spaces"), (spaced(gold), "spaced"),
           (gold.replace("\\frac", "\\dfrac"), "dfrac") if "\\frac" in gold else None,
           (gold.replace("\\dfrac", "\\frac"), "frac") if "\\dfrac" in gold else None,
           (gold[1:], "dropped-sign") if gold.startswith("-") else ("-" + gold, "added-sign"),
           ("x = " + gold, "equation")]
    v = value_of(gold)
    if v is not None:
        out += [(decimal_text(v), "decimal"), (str(v.numerator + 1) if v.denominator == 1 else
                                                f"\\frac{{{v.numerator + 1}}}{{{v.denominator}}}", "wrong-value"),
                (f"{v.numerator}/{v.denominator}" if v.denominator != 1 else f"{v.numerator}.0", "plain"),
                (gold + "\\text{ cm}", "units"), (decimal_text(v, 2), "rounded-2")]
        if v.denominator == 1 and abs(v) >= 1000:
            out.append((f"{v.numerator:,}", "thousands"))
    out += structural_forms(gold)
    parts = split_top_level(gold)
    if len(parts) > 1:
        out.append((", ".join(reversed(parts)), "reversed-list"))
    for open_, close in (("(", ")"), ("\\{", "\\}"), ("\\left(", "\\right)")):
        if gold.startswith(open_) and gold.endswith(close):
            inner = split_top_level(gold[len(open_):-len(close)])
            if len(inner) > 1:
                out.append((open_ + ", ".join(reversed(inner)) + close, "reordered"))
    if gold.startswith("[") or gold.startswith("("):
        out.append((("(" if gold[0] == "[" else "[") + gold[1:], "other-bracket"))
    return [p for p in out if p is not None and p[0] != gold]


def top_level_terms(s):
    """Splits a sum at top-level + and - (kept with their term)."""
    terms, depth, cur = [], 0, ""
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in "+-" and depth == 0 and cur.strip() and not cur.rstrip().endswith(("^", "_")):
            terms.append(cur.strip())
            cur = c
        else:
            cur += c
    terms.append(cur.strip())
    return terms


def structural_forms(gold):
    """Same value written differently, and near misses, for symbolic golds."""
    out = []
    if re.search(r"\\sqrt\{\d\}", gold):
        out.append((re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", gold), "sqrt-shorthand"))
    m = re.search(r"\\sqrt\{(\d+)\}", gold)
    if m:
        out.append((gold.replace(m.group(0), "\\sqrt{%d}" % (int(m.group(1)) + 1), 1), "wrong-sqrt"))
    m = re.fullmatch(r"(\d+) ?\\sqrt\{?(\d+)\}?", gold)
    if m:
        out.append(("\\sqrt{%d}" % (int(m.group(1)) ** 2 * int(m.group(2))), "sqrt-absorbed"))
    m = re.fullmatch(r"(-?)\\frac\{\\pi\}\{(\d+)\}", gold)
    if m:
        out.append((f"{m.group(1)}\\pi/{m.group(2)}", "pi-slash"))
    if not re.search(r"[,=\[\]]|\\begin|\\pm|\\cup", gold):
        terms = top_level_terms(gold)
        if len(terms) > 1:
            rev = [t if t[0] in "+-" else "+" + t for t in reversed(terms)]
            out.append(("".join(rev).lstrip("+"), "reversed-sum"))
            out.append(("".join(rev[:-1]).lstrip("+") or "0", "dropped-term"))
    if INT.match(gold) and int(gold) >= 1000 and int(gold) % 100 == 0:
        n = int(gold)
        k = len(str(n)) - len(str(n).rstrip("0"))
        out.append((f"{n // 10 ** k} \\times 10^{{{k}}}", "times-ten"))
    if INT.match(gold):
        out.append((gold + "\\%", "percent"))
    return out


def math500_pairs():
    pairs = []
    for row in load_jsonl(MATH500):
        for pred, kind in perturb(row["answer"]):
            pairs.append({"gold": row["answer"], "prediction": pred, "kind": kind})
    return pairs


def gsm8k_gold(row):
    return row["answer"].split("####")[-1].strip().replace(",", "")


def gsm8k_forms(n):
    """Other forms of the same GSM8K answer, all of which must be judged equal."""
    v = Fraction(n)
    forms = ["$" + n, n + ".00" if "." not in n else n, n + " dollars", "\\$" + n]
    if v.denominator == 1 and abs(v) >= 1000:
        forms.append(f"{v.numerator:,}")
    return forms
