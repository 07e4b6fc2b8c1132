"""Notebook 09's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
from checker_helpers import assert_accepted, assert_rejected, stub
from tokenizers import Regex, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing

from course_utils.practice.checks.nb09 import (
    check_metaspace_decode,
    check_normalizer,
    check_post_processor,
    check_pre_tokenizer,
)


# --- normalizer -----------------------------------------------------------------------------------------------
def normalizer(*steps):
    return lambda: normalizers.Sequence(list(steps))


NFKC, LOWER, STRIP = normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()
RUNS = normalizers.Replace(Regex(r"\s+"), " ")
RIGHT = [
    normalizer(NFKC, RUNS, STRIP, LOWER),
    normalizer(LOWER, NFKC, STRIP, RUNS),  # another order that gives the same text
]


@pytest.mark.parametrize("fn", RIGHT)
def test_normalizer_accepts_correct_answers(fn) -> None:
    assert_accepted(check_normalizer, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (normalizer(RUNS, STRIP, LOWER), ["normalizers.NFKC()"]),
        (normalizer(NFKC, normalizers.Replace("  ", " "), STRIP, LOWER), ["collapse every run of whitespace"]),
        (normalizer(NFKC, RUNS, LOWER), ["normalizers.Strip()"]),
        (normalizer(NFKC, RUNS, STRIP, normalizers.NFD(), normalizers.StripAccents(), LOWER), ["keep the accents"]),
        (lambda: str.lower, ["a normalizer (with .normalize_str)"]),
    ],
)
def test_normalizer_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_normalizer(fn, seed=0), *fragments)


# --- pre-tokenizer --------------------------------------------------------------------------------------------
def pre_tokenizer(*steps):
    return lambda: pre_tokenizers.Sequence(list(steps))


SPLIT, PUNCT = pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")
DIGITS = pre_tokenizers.Digits(individual_digits=True)


@pytest.mark.parametrize(
    "fn",
    [
        pre_tokenizer(SPLIT, PUNCT, DIGITS),
        pre_tokenizer(DIGITS, PUNCT, SPLIT),
        pre_tokenizer(pre_tokenizers.Split(Regex(r"\d|[^\W\d_]+|[^\w\s]"), behavior="isolated"), SPLIT),
    ],
)
def test_pre_tokenizer_accepts_correct_answers(fn) -> None:
    assert_accepted(check_pre_tokenizer, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda: pre_tokenizers.Whitespace(), ["Punctuation(behavior='isolated')", "¿Qué dijo?!"]),
        (pre_tokenizer(SPLIT, PUNCT), ["Digits(individual_digits=True)"]),
        (pre_tokenizer(pre_tokenizers.Metaspace(), PUNCT, DIGITS), ["Metaspace keeps it"]),
        (lambda: normalizers.NFKC(), ["a pre-tokenizer (with .pre_tokenize_str)"]),
    ],
)
def test_pre_tokenizer_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_pre_tokenizer(fn, seed=1), *fragments)


# --- post-processor -------------------------------------------------------------------------------------------
def make_post_processor(tokenizer):
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    return TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                              special_tokens=[("<s>", bos), ("</s>", eos)])


def hard_coded_ids(tokenizer):
    return TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                              special_tokens=[("<s>", 1), ("</s>", 2)])


def single_only(tokenizer):
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    return TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)])


def same_type_ids(tokenizer):
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    return TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B </s>",
                              special_tokens=[("<s>", bos), ("</s>", eos)])


def test_post_processor_accepts_the_reference() -> None:
    assert_accepted(check_post_processor, make_post_processor)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (hard_coded_ids, ["never assume them"]),
        (single_only, ["pair='<s> $A </s> $B:1 </s>:1'"]),
        (same_type_ids, ["type_ids", "$B:1 </s>:1"]),
        (lambda tokenizer: "<s> $A </s>", ["a post-processor", "got:      str"]),
    ],
)
def test_post_processor_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_post_processor(fn, seed=2), *fragments)


# --- metaspace_decode (find the bug) --------------------------------------------------------------------------
def metaspace_decode(tokens):
    text = "".join(tokens).replace("▁", " ")
    return text[1:] if text.startswith(" ") else text


def metaspace_decode_loop(tokens):  # another route: token by token, the first one's marker dropped
    pieces = [token.replace("▁", " ") for token in tokens]
    if pieces and pieces[0].startswith(" "):
        pieces[0] = pieces[0][1:]
    return "".join(pieces)


@pytest.mark.parametrize("fn", [metaspace_decode, metaspace_decode_loop])
def test_metaspace_decode_accepts_correct_answers(fn) -> None:
    assert_accepted(check_metaspace_decode, fn)


def buggy_decode(tokens):  # the student edition's starting code: decoding that adds spaces
    return " ".join(token.replace("▁", "") for token in tokens)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (buggy_decode, ["must not be joined with spaces"]),
        (lambda tokens: "".join(tokens).replace("▁", " "), ["one space too many at the start"]),
        (lambda tokens: "".join(tokens).replace("▁", " ").strip(), ["strip() removes spaces"]),
        (lambda tokens: "".join(tokens), ["every ▁ stands for a space"]),
        (lambda tokens: None, ["returned None"]),
    ],
)
def test_metaspace_decode_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_metaspace_decode(fn, seed=1), *fragments)
