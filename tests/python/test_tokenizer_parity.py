"""Our byte-level BPE tokenizer (r1 tokenize) against HF `tokenizers`.

Tokenizers are trained here with HF on a generated multilingual corpus
(Qwen2-style with NFC, Llama-3-style with ignore_merges and a BOS template),
plus the real SmolLM2 tokenizer when cached, plus one trained by `r1 tokenizer
train` and loaded by HF. Ids, decodes and chat renderings must be identical.
"""
import json
import os
import random
import subprocess
import unicodedata
from pathlib import Path

import pytest
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from paths import data_file
from r1_cli import R1

ROOT = Path(os.environ.get("R1_ROOT", "."))
SMOLLM2 = ROOT / ".cache" / "smollm2" / "tokenizer.json"

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

WORDS = ("the of and to in is was for that with as on by it he she they we you are be this from at or an "
         "have not but had his her which one all were there their what so if can will would about Don't "
         "I'm YOU'LL she'S we've THEY'D").split()
CODE = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
        "SELECT id, name FROM users WHERE age >= 18;", "x = {'a': [1, 2, 3], \"b\": None}  # dict\r\n",
        "if err != nil {\n\t\treturn fmt.Errorf(\"bad: %w\", err)\n\t}"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EMOJI = ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "✨", "🤔"]
OTHER = ["Привет, мир", "مرحبا بالعالم", "안녕하세요 세계", "こんにちは世界", "Ελληνικά", "हिन्दी पाठ", "ﬁ ligature", "Ⅻ ½ ²"]
# NFD forms that NFC composes, plus marks with no precomposed form.
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "A\u030a", "q\u0307\u0323", "\u1100\u1161\u11a8"]


def cjk(rng, n):
    common = "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现"
    return "".join(rng.choice(common) for _ in range(n)) + rng.choice(["。", "，", "！", "？", "：", ""])


def make_line(rng):
    parts = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if kind < 0.3:
            parts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))))
        elif kind < 0.45:
            parts.append(cjk(rng, rng.randint(2, 20)))
        elif kind < 0.55:
            parts.append(rng.choice(CODE))
        elif kind < 0.62:
            parts.append(rng.choice(EMOJI) * rng.randint(1, 3))
        elif kind < 0.7:
            parts.append(rng.choice([" " * rng.randint(1, 9), "\t" * rng.randint(1, 3), "\r\n", "\n\n", " \n ", "\u3000", "\u00a0"]))
        elif kind < 0.8:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))) + rng.choice(["", ".5", ",000", "%", " km"]))
        elif kind < 0.86:
            parts.append(rng.choice(SPECIALS + ["<think>", " <think> ", "<|im_start|>assistant\n"]))
        elif kind < 0.93:
            parts.append(rng.choice(OTHER))
        else:
            parts.append(rng.choice(COMBINING) + rng.choice(["", " ", "x"]))
    sep = rng.choice(["", " ", "\n", "  "])
    return sep.join(parts)


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(1234)
    train = [make_line(rng) for _ in range(3000)]
    held_out = [make_line(rng) for _ in range(600)]
    held_out += ["", " ", "\n", "a", "'S", "  leading", "trailing  ", "\r\n\r\n", "x\u0301", "😀" * 40, "7" * 50,
                 "<|im_end|><|im_end|>", "a<think>b", " " * 300, "Don'T", "ǅ", "\u2028", "\x00\x01"]
    return train, held_out


def run_r1(args, lines):
    proc = subprocess.run([R1] + args, input="".join(json.dumps(x) + "\n" for x in lines).encode(),
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(x) for x in proc.stdout.decode().split("\n") if x]  # not splitlines: U+2028 is data


def r1_encode(path, texts, add_special=False, threads=1):
    extra = (["--add-special-tokens"] if add_special else []) + ["--threads", str(threads)]
    return [x["ids"] for x in run_r1(["tokenize", "--tokenizer", str(path)] + extra, [{"text": t} for t in texts])]


def r1_decode(path, id_lists, skip_special=False):
    extra = ["--skip-special-tokens"] if skip_special else []
    return [x["text"] for x in run_r1(["tokenize", "--decode", "--tokenizer", str(path)] + extra,
                                      [{"ids": ids} for ids in id_lists])]


def bpe_trainer(vocab_size):
    return trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


def qwen2_style(train, out):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(train, bpe_trainer(3000))
    tok.add_tokens([AddedToken("<think>", normalized=True, special=False),
                    AddedToken("[MASK]", lstrip=True, rstrip=True, normalized=False, special=False)])
    tok.save(str(out))
    return tok


def llama3_style(train, out):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(train, bpe_trainer(2500))
    tok.add_special_tokens(["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    tok.save(str(out))
    return tok


def check_parity(tok, path, texts, nfc=False):
    ours = r1_encode(path, texts)
    theirs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    bad = [(t, o, h) for t, o, h in zip(texts, ours, theirs) if o != h]
    assert not bad, f"{len(bad)} of {len(texts)} lines differ, first: {bad[0]!r}"
    decoded = r1_decode(path, theirs)
    assert decoded == [tok.decode(ids, skip_special_tokens=False) for ids in theirs]
    for text, d in zip(texts, decoded):
        if not nfc or unicodedata.normalize("NFC", text) == text:
            assert d == text


def test_qwen2_style_parity(corpus, tmp_path):
    train, held_out = corpus
    path = tmp_path / "tokenizer.json"
    tok = qwen2_style(train, path)
    check_parity(tok, path, held_out, nfc=True)
    assert r1_encode(path, held_out, threads=3) == r1_encode(path, held_out)
    stripped = ["a [MASK] b", "x  [MASK]\u3000 y <think>z", "[MASK]", "  [MASK]"]  # lstrip/rstrip eat spaces
    assert r1_encode(path, stripped) == [tok.encode(t, add_special_tokens=False).ids for t in stripped]
    assert any(unicodedata.normalize("NFC", t) != t for t in held_out)  # NFC really was exercised


def test_llama3_style_parity(corpus, tmp_path):
    train, held_out = corpus
    path = tmp_path / "tokenizer.json"
    tok = llama3_style(train, path)
    check_parity(tok, path, held_out)
    ours = r1_encode(path, held_out[:50], add_special=True)
    assert ours == [tok.encode(t, add_special_tokens=True).ids for t in held_out[:50]]
    assert all(ids[0] == tok.token_to_id("<|begin_of_text|>") for ids in ours)


def test_decode_of_arbitrary_ids_matches(corpus, tmp_path):
    train, _ = corpus
    path = tmp_path / "tokenizer.json"
    tok = qwen2_style(train, path)
    rng = random.Random(7)
    id_lists = [[rng.randrange(tok.get_vocab_size()) for _ in range(rng.randint(1, 12))] for _ in range(400)]
    assert r1_decode(path, id_lists) == [tok.decode(ids, skip_special_tokens=False) for ids in id_lists]
    assert r1_decode(path, id_lists, True) == [tok.decode(ids, skip_special_tokens=True) for ids in id_lists]


def test_smollm2_parity(corpus):
    if not SMOLLM2.exists():
        pytest.skip(f"{SMOLLM2} not present (fetched by the model setup)")
    tok = Tokenizer.from_file(str(SMOLLM2))
    _, held_out = corpus
    texts = list(held_out)
    gsm8k = Path(data_file("gsm8k"))
    for f in sorted(gsm8k.glob("*.jsonl"))[:1] if gsm8k.exists() else []:
        with open(f) as fh:
            texts += [json.loads(line).get("question", "") for _, line in zip(range(300), fh)]
    check_parity(tok, SMOLLM2, texts)


def test_our_trainer_loads_in_hf(corpus, tmp_path):
    train, held_out = corpus
    corpus_file = tmp_path / "corpus.jsonl"
    corpus_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in train))
    out = tmp_path / "trained"
    proc = subprocess.run([R1, "tokenizer", "train", "--corpus", str(corpus_file), "--vocab-size", "1500",
                           "--out", str(out)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert 259 < tok.get_vocab_size() <= 1500
    assert [tok.token_to_id(s) for s in SPECIALS] == [0, 1, 2]
    check_parity(tok, out, held_out, nfc=True)

    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(str(out))
    assert hf.eos_token == "<|im_end|>" and hf.pad_token == "<|endoftext|>" and hf.bos_token is None
    assert hf("hello world", add_special_tokens=True)["input_ids"] == tok.encode("hello world").ids
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"}, {"role": "user", "content": "<think>and 3+3?"}]
    ours = run_r1(["tokenizer", "chat", "--template", "auto", "--tokenizer", str(out)], [{"messages": msgs}])
    assert ours[0]["text"] == hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


QWEN_JINJA = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
              "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3_JINJA = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                "{{ content }}{% endfor %}{% if add_generation_prompt %}"
                "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "  What is 2+2?\n"},
     {"role": "assistant", "content": "<think>easy</think> 4 "}, {"role": "user", "content": "数学\t题"}],
    [{"role": "user", "content": "\u3000padded\u00a0"}],
]


@pytest.mark.parametrize("name,jinja,bos", [("chatml", QWEN_JINJA, None), ("llama3", LLAMA3_JINJA, "<|begin_of_text|>")])
def test_chat_templates_match_transformers(corpus, tmp_path, name, jinja, bos):
    from transformers import PreTrainedTokenizerFast
    train, _ = corpus
    tok = llama3_style(train, tmp_path / "tokenizer.json") if bos else qwen2_style(train, tmp_path / "tokenizer.json")
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, chat_template=jinja)
    for gen in (True, False):
        extra = [] if gen else ["--no-generation-prompt"]
        ours = run_r1(["tokenizer", "chat", "--template", name] + extra, [{"messages": m} for m in CONVERSATIONS])
        for m, o in zip(CONVERSATIONS, ours):
            assert o["text"] == hf.apply_chat_template(m, tokenize=False, add_generation_prompt=gen)


def test_bad_input_lines_name_file_and_line(tmp_path):
    if not SMOLLM2.exists():
        pytest.skip(f"{SMOLLM2} not present")
    bad = tmp_path / "in.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no"}\n')
    for threads in ("1", "2"):
        proc = subprocess.run([R1, "tokenize", "--tokenizer", str(SMOLLM2), "--input", str(bad),
                               "--threads", threads], capture_output=True)
        assert proc.returncode == 1
        assert f"{bad}:2: field 'text'" in proc.stderr.decode()
    bad.write_text('{"ids": [1, 2]}\n{"ids": [3, -4]}\n')
    proc = subprocess.run([R1, "tokenize", "--decode", "--tokenizer", str(SMOLLM2), "--input", str(bad)],
                          capture_output=True)
    assert proc.returncode == 1 and f"{bad}:2: field 'ids'" in proc.stderr.decode()
