"""Notebook 08's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import re

import pytest
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb08 import (
    check_add_counts,
    check_chunk_words,
    check_prepare,
    check_tokenize_for_training,
)


# --- add_counts -----------------------------------------------------------------------------------------------
def add_counts(batch):
    return {
        "n_words": [len(text.split()) for text in batch["text"]],
        "n_hashtags": [len(re.findall(r"#\w+", text)) for text in batch["text"]],
    }


def add_counts_loop(batch):  # counting the '#'-words by hand: also right for these texts
    words = [text.split() for text in batch["text"]]
    return {"n_words": [len(w) for w in words], "n_hashtags": [sum(x.startswith("#") for x in w) for w in words]}


@pytest.mark.parametrize("fn", [add_counts, add_counts_loop])
def test_add_counts_accepts_correct_answers(fn) -> None:
    assert_accepted(check_add_counts, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda row: {"n_words": len(row["text"].split())}, ["your code raised AttributeError", "'list' object"]),
        (lambda batch: {"n_words": len(batch["text"]), "n_hashtags": 0}, ["a batched function gets a dict of LISTS"]),
        (lambda batch: {**add_counts(batch), "n_words": [len(t.split(" ")) for t in batch["text"]]},
         ["column 'n_words'", "len(text.split())"]),
        (lambda batch: {**add_counts(batch), "n_hashtags": [t.count("#") > 0 for t in batch["text"]]},
         ["column 'n_hashtags'"]),
    ],
)
def test_add_counts_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_add_counts(fn, seed=0), *fragments)


# --- chunk_words ----------------------------------------------------------------------------------------------
def chunk_words(batch, size):
    pieces = []
    for text in batch["text"]:
        words = text.split()
        pieces += [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return {"chunk": pieces}


def drops_short_tail(batch, size):
    pieces = []
    for text in batch["text"]:
        words = text.split()
        pieces += [" ".join(words[i : i + size]) for i in range(0, len(words) - size + 1, size)]
    return {"chunk": pieces}


def test_chunk_words_accepts_the_reference() -> None:
    assert_accepted(check_chunk_words, chunk_words)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (drops_short_tail, ["keep the last, shorter piece"]),
        (lambda batch, size: {"chunk": [[" ".join(t.split()[i : i + size]) for i in range(0, len(t.split()), size)]
                                        for t in batch["text"]]}, ["one row per piece"]),
        (lambda batch, size: {"chunk": [t[i : i + size] for t in batch["text"] for i in range(0, len(t), size)]},
         ["expected:", "got:"]),
    ],
)
def test_chunk_words_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_chunk_words(fn, seed=1), *fragments)


# --- prepare --------------------------------------------------------------------------------------------------
def prepare(ds, seed):
    kept = ds.filter(lambda r: r["meta"]["hashtags"] > 0).flatten().class_encode_column("sentiment")
    return kept.train_test_split(test_size=0.2, stratify_by_column="sentiment", seed=seed)


def prepare_flatten_first(ds, seed):
    flat = ds.flatten().class_encode_column("sentiment")
    kept = flat.filter(lambda batch: [h > 0 for h in batch["meta.hashtags"]], batched=True)
    return kept.train_test_split(test_size=0.2, stratify_by_column="sentiment", seed=seed)


def not_stratified(ds, seed):
    kept = ds.filter(lambda r: r["meta"]["hashtags"] > 0).flatten()
    kept = kept.select(sorted(range(len(kept)), key=lambda i: kept[i]["sentiment"])).class_encode_column("sentiment")
    return kept.train_test_split(test_size=0.2, shuffle=False)  # the last 20%: all of one sentiment


def no_filter(ds, seed):
    encoded = ds.flatten().class_encode_column("sentiment")
    return encoded.train_test_split(test_size=0.2, stratify_by_column="sentiment", seed=seed)


def not_flattened(ds, seed):
    kept = ds.filter(lambda r: r["meta"]["hashtags"] > 0).class_encode_column("sentiment")
    return kept.train_test_split(test_size=0.2, stratify_by_column="sentiment", seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("fn", [prepare, prepare_flatten_first])
def test_prepare_accepts_correct_answers(fn) -> None:
    assert_accepted(check_prepare, fn)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (not_stratified, ["stratify"]),
        (no_filter, ["rows with hashtags > 0", "unexpected"]),
        (not_flattened, ["flatten"]),
        (lambda ds, seed: prepare(ds, seed)["train"], ["a DatasetDict with 'train' and 'test'"]),
        (lambda ds, seed: prepare(ds.map(lambda r: {"sentiment": r["sentiment"].upper()}), seed),
         ["with its sentiment"]),
    ],
)
def test_prepare_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_prepare(fn, seed=2), *fragments)


# --- tokenize_for_training (find the bug) ---------------------------------------------------------------------
def tokenize_for_training(ds, tokenize):
    drop = [name for name in ds.column_names if name != "label"]
    return ds.map(lambda batch: tokenize(batch["text"]), batched=True, remove_columns=drop)


def tokenize_then_select(ds, tokenize):  # another route: map, then keep the wanted columns
    mapped = ds.map(lambda batch: tokenize(batch["text"]), batched=True)
    return mapped.select_columns(["input_ids", "attention_mask", "label"])


@pytest.mark.parametrize("fn", [tokenize_for_training, tokenize_then_select])
def test_tokenize_for_training_accepts_correct_answers(fn) -> None:
    assert_accepted(check_tokenize_for_training, fn)


def buggy_tokenize_for_training(ds, tokenize):  # the student edition's starting code: the label is dropped
    return ds.map(lambda batch: tokenize(batch["text"]), batched=True, remove_columns=ds.column_names)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (buggy_tokenize_for_training, ["the label column is gone", "remove_columns=ds.column_names"]),
        (lambda ds, tok: ds.map(lambda b: tok(b["text"]), batched=True), ["still there", "'text'"]),
        (lambda ds, tok: ds.map(lambda b: tok(b["text"]), batched=True, remove_columns=["text"]), ["still there"]),
        (lambda ds, tok: tokenize_for_training(ds, tok).shuffle(seed=0), ["same order"]),
        (lambda ds, tok: ds.remove_columns([n for n in ds.column_names if n != "label"]), ["map with the tokenizer"]),
    ],
)
def test_tokenize_for_training_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_tokenize_for_training(fn, seed=4), *fragments)
