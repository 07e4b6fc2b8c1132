"""Notebook 10b's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb10b import check_shift_right, check_smoothed_loss, check_token_budget_batches


# --- shift_right ----------------------------------------------------------------------------------------------
def shift_right(labels, bos_id, pad_id):
    start = torch.full((labels.shape[0], 1), bos_id, dtype=labels.dtype)
    shifted = torch.cat([start, labels[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == -100, pad_id)


def shift_right_new_zeros(labels, bos_id, pad_id):
    out = labels.new_zeros(labels.shape)
    out[:, 1:] = labels[:, :-1]
    out[:, 0] = bos_id
    out[out == -100] = pad_id
    return out


@pytest.mark.parametrize("fn", [shift_right, shift_right_new_zeros])
def test_shift_right_accepts_correct_answers(fn) -> None:
    assert_accepted(check_shift_right, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda y, b, p: torch.cat([torch.full((y.shape[0], 1), b), y[:, :-1]], dim=1), ["not a token id"]),
        (lambda y, b, p: y.masked_fill(y == -100, p), ["shift RIGHT"]),
        (lambda y, b, p: shift_right(y, b, p)[:, 1:], ["shape"]),
    ],
)
def test_shift_right_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_shift_right(fn, seed=1), *fragments)


# --- smoothed_loss --------------------------------------------------------------------------------------------
def smoothed_loss(logits, labels, epsilon):
    keep = labels != -100
    log_p = logits[keep].log_softmax(-1)
    nll = -log_p.gather(1, labels[keep, None]).squeeze(1)
    return ((1 - epsilon) * nll - epsilon * log_p.mean(-1)).mean()


def smoothed_loss_targets(logits, labels, epsilon):
    keep = labels != -100
    vocab = logits.shape[-1]
    target = torch.full((int(keep.sum()), vocab), epsilon / vocab)
    target[torch.arange(len(target)), labels[keep]] += 1 - epsilon
    return -(target * logits[keep].log_softmax(-1)).sum(-1).mean()


def smoothing_over_the_others(logits, labels, epsilon):
    keep = labels != -100
    log_p = logits[keep].log_softmax(-1)
    right = log_p.gather(1, labels[keep, None]).squeeze(1)
    rest = (log_p.sum(-1) - right) / (logits.shape[-1] - 1)
    return ((1 - epsilon) * -right + epsilon * -rest).mean()


def padding_counted(logits, labels, epsilon):
    return F.cross_entropy(logits, labels.clamp(min=0), label_smoothing=epsilon)


@pytest.mark.parametrize("fn", [smoothed_loss, smoothed_loss_targets])
def test_smoothed_loss_accepts_correct_answers(fn) -> None:
    assert_accepted(check_smoothed_loss, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (smoothing_over_the_others, ["ALL V tokens"]),
        (lambda x, y, e: F.cross_entropy(x, y, ignore_index=-100), ["smoothing is missing"]),
        (padding_counted, ["values differ"]),
    ],
)
def test_smoothed_loss_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_smoothed_loss(fn, seed=1), *fragments)


# --- token_budget_batches -------------------------------------------------------------------------------------
def token_budget_batches(lengths, max_tokens):
    batches, batch, longest = [], [], 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and max(longest, lengths[i]) * (len(batch) + 1) > max_tokens:
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, lengths[i])
    return batches + [batch] if batch else batches


def token_budget_batches_longest_first(lengths, max_tokens):
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches = []
    for i in order:
        if batches and len(batches[-1]) + 1 <= max_tokens // lengths[batches[-1][0]]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def unsorted(lengths, max_tokens):
    batches, batch, longest = [], [], 0
    for i in range(len(lengths)):
        if batch and max(longest, lengths[i]) * (len(batch) + 1) > max_tokens:
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, lengths[i])
    return batches + [batch] if batch else batches


def counts_real_tokens(lengths, max_tokens):
    batches, batch, total = [], [], 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batch and total + lengths[i] > max_tokens:
            batches.append(batch)
            batch, total = [], 0
        batch.append(i)
        total += lengths[i]
    return batches + [batch] if batch else batches


@pytest.mark.parametrize("fn", [token_budget_batches, token_budget_batches_longest_first])
def test_token_budget_batches_accepts_correct_answers(fn) -> None:
    assert_accepted(check_token_budget_batches, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (counts_real_tokens, ["max length in the batch"]),
        (unsorted, ["sort the indices by length"]),
        (lambda lengths, m: token_budget_batches(lengths[:-1], m), ["exactly once"]),  # the last one lost
        (lambda lengths, m: range(len(lengths)), ["a list of lists"]),
    ],
)
def test_token_budget_batches_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_token_budget_batches(fn, seed=2), *fragments)


def test_bad_input_gives_feedback_not_a_crash() -> None:
    assert_rejected(check_shift_right("shift_right"), "something callable")

    def raises(logits, labels, epsilon):
        raise IndexError("index out of range")

    assert_rejected(check_smoothed_loss(raises), "IndexError", "index out of range")
