"""Notebook 10a's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb10a import check_attention, check_sliding_window_mask, check_split_heads


# --- attention ------------------------------------------------------------------------------------------------
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


def attention_einsum(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    return torch.einsum("...qk,...kv->...qv", torch.softmax(scores, -1), v)


def unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1) @ v


def softmax_over_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-2).nan_to_num(0.0) @ v


def inverted_mask(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return scores.softmax(-1).nan_to_num(0.0) @ v


def ignores_mask(q, k, v, mask=None):
    return attention(q, k, v)[0]


@pytest.mark.parametrize("fn", [attention, attention_einsum])
def test_attention_accepts_correct_answers(fn) -> None:
    assert_accepted(check_attention, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (unscaled, ["sqrt(d_k)"]),
        (softmax_over_queries, ["over the KEYS"]),
        (inverted_mask, ["True means MAY attend"]),
        (ignores_mask, ["apply the mask"]),
        (lambda q, k, v, mask=None: (q @ k.transpose(-2, -1)).tolist(), ["a tensor is expected"]),
    ],
)
def test_attention_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_attention(fn, seed=1), *fragments)


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
    assert_rejected(check_attention(42), "something callable")

    def raises(x, n_heads):
        raise RuntimeError("shapes do not match")

    assert_rejected(check_split_heads(raises), "RuntimeError", "shapes do not match")

    def endless(length, w):
        while True:
            pass

    from course_utils.practice.grading import run_check

    result = run_check("sliding_window_mask", 1, lambda current: endless(3, 2), time_limit=0.5)
    assert_rejected(result, "time limit")
