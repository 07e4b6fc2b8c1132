"""Notebook 10a's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb10a import check_causal_attention, check_sliding_window_mask, check_split_heads


# --- causal_attention (find the bug: the mask applied after the softmax) ---------------------------------------
def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def _future(q):
    return torch.ones(q.shape[-2], q.shape[-2], dtype=torch.bool).triu(1)


def causal_attention(q, k, v):
    weights = _scores(q, k).masked_fill(_future(q), float("-inf")).softmax(dim=-1)
    return weights @ v, weights


def causal_attention_renormalised(q, k, v):  # zero after the softmax, then renormalise: the same weights
    weights = _scores(q, k).softmax(dim=-1).masked_fill(_future(q), 0.0)
    weights = weights / weights.sum(-1, keepdim=True)
    return weights @ v, weights


def masked_after_softmax(q, k, v):  # the notebook's bug
    weights = _scores(q, k).softmax(dim=-1) * ~_future(q)
    return weights @ v, weights


def inverted_mask(q, k, v):  # triu instead of tril: the future leaks
    weights = _scores(q, k).masked_fill(~_future(q) & ~torch.eye(q.shape[-2], dtype=torch.bool),
                                        float("-inf")).softmax(dim=-1)
    return weights @ v, weights


def filled_with_zero(q, k, v):  # masked before the softmax, but with 0 instead of -inf
    weights = _scores(q, k).masked_fill(_future(q), 0.0).softmax(dim=-1)
    return weights @ v, weights


def inf_after_softmax(q, k, v):
    weights = _scores(q, k).softmax(dim=-1).masked_fill(_future(q), float("-inf"))
    return weights @ v, weights


@pytest.mark.parametrize("fn", [causal_attention, causal_attention_renormalised])
def test_causal_attention_accepts_correct_answers(fn) -> None:
    assert_accepted(check_causal_attention, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (masked_after_softmax, ["sum to", "not 1", "before it"]),
        (inverted_mask, ["LATER key", "future leaks"]),
        (filled_with_zero, ["LATER key"]),
        (inf_after_softmax, ["-inf belongs in the SCORES"]),
        (lambda q, k, v: causal_attention(q, k, v)[0], ["a tuple (output, weights)"]),
    ],
)
def test_causal_attention_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_causal_attention(fn, seed=1), *fragments)


# --- split_heads ----------------------------------------------------------------------------------------------
def split_heads(x, n_heads):
    batch, time, d_model = x.shape
    return x.view(batch, time, n_heads, d_model // n_heads).transpose(1, 2)


def split_heads_unflatten(x, n_heads):
    return x.unflatten(-1, (n_heads, -1)).permute(0, 2, 1, 3)


@pytest.mark.parametrize("fn", [split_heads, split_heads_unflatten])
def test_split_heads_accepts_correct_answers(fn) -> None:
    assert_accepted(check_split_heads, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), ["mixes positions into heads"]),
        (lambda x, h: x.view(x.shape[0], x.shape[1], h, -1), ["shape"]),
    ],
)
def test_split_heads_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_split_heads(fn, seed=1), *fragments)


# --- sliding_window_mask --------------------------------------------------------------------------------------
def sliding_window_mask(length, w):
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    return (j <= i) & (i - j < w)


def sliding_window_mask_tril(length, w):
    ones = torch.ones(length, length, dtype=torch.bool)
    return ones.tril() & ~ones.tril(diagonal=-w)


@pytest.mark.parametrize("fn", [sliding_window_mask, sliding_window_mask_tril])
def test_sliding_window_mask_accepts_correct_answers(fn) -> None:
    assert_accepted(check_sliding_window_mask, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda n, w: sliding_window_mask(n, w + 1), ["off by one"]),
        (lambda n, w: (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs() < w, ["later keys"]),
        (lambda n, w: sliding_window_mask(n, w).int(), ["boolean"]),
    ],
)
def test_sliding_window_mask_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_sliding_window_mask(fn, seed=1), *fragments)


def test_bad_input_gives_feedback_not_a_crash() -> None:
    assert_rejected(check_causal_attention(42), "something callable")

    def raises(x, n_heads):
        raise RuntimeError("shapes do not match")

    assert_rejected(check_split_heads(raises), "RuntimeError", "shapes do not match")

    def endless(length, w):
        while True:
            pass

    from course_utils.practice.grading import run_check

    result = run_check("sliding_window_mask", 1, lambda current: endless(3, 2), time_limit=0.5)
    assert_rejected(result, "time limit")
