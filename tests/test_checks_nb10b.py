"""Notebook 10b's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb10b import (
    check_smoothed_loss,
    check_teacher_forcing_loss,
    check_token_budget_batches,
)


# --- teacher_forcing_loss (find the bug) -----------------------------------------------------------------------
def teacher_forcing_loss(decoder, labels, bos_id, pad_id):
    start = torch.full_like(labels[:, :1], bos_id)
    inputs = torch.cat([start, labels[:, :-1]], dim=1)
    inputs = inputs.masked_fill(inputs == -100, pad_id)
    return F.cross_entropy(decoder(inputs).flatten(0, 1), labels.flatten(), ignore_index=-100)


def teacher_forcing_loss_mask(decoder, labels, bos_id, pad_id):  # mean over the real positions by hand
    inputs = torch.full_like(labels, pad_id)
    inputs[:, 0] = bos_id
    inputs[:, 1:] = labels[:, :-1].clamp(min=0) * (labels[:, :-1] != -100) + pad_id * (labels[:, :-1] == -100)
    losses = F.cross_entropy(decoder(inputs).transpose(1, 2), labels.clamp(min=0), reduction="none")
    keep = labels != -100
    return losses[keep].mean()


def the_bug(decoder, labels, bos_id, pad_id):  # the notebook's buggy version
    inputs = labels.masked_fill(labels == -100, pad_id)
    return F.cross_entropy(decoder(inputs).flatten(0, 1), inputs.flatten())


def shifted_but_targets_are_inputs(decoder, labels, bos_id, pad_id):
    inputs = torch.cat([torch.full_like(labels[:, :1], bos_id), labels[:, :-1]], dim=1)
    inputs = inputs.masked_fill(inputs == -100, pad_id)
    return F.cross_entropy(decoder(inputs).flatten(0, 1), inputs.flatten())


def shifted_loss_on_padding(decoder, labels, bos_id, pad_id):
    inputs = torch.cat([torch.full_like(labels[:, :1], bos_id), labels[:, :-1]], dim=1)
    inputs = inputs.masked_fill(inputs == -100, pad_id)
    targets = labels.masked_fill(labels == -100, pad_id)
    return F.cross_entropy(decoder(inputs).flatten(0, 1), targets.flatten())


def keeps_minus_100(decoder, labels, bos_id, pad_id):  # shifted, but -100 handed to the embedding
    inputs = torch.cat([torch.full_like(labels[:, :1], bos_id), labels[:, :-1]], dim=1)
    return F.cross_entropy(decoder(inputs).flatten(0, 1), labels.flatten(), ignore_index=-100)


@pytest.mark.parametrize("fn", [teacher_forcing_loss, teacher_forcing_loss_mask])
def test_teacher_forcing_loss_accepts_correct_answers(fn) -> None:
    assert_accepted(check_teacher_forcing_loss, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (the_bug, ["what the decoder read", "not shifted"]),
        (shifted_but_targets_are_inputs, ["(the loss)", "targets are the LABELS"]),
        (shifted_loss_on_padding, ["(the loss)", "counts the padded positions", "ignore_index=-100"]),
        (keeps_minus_100, ["ValueError", "-100 is a label"]),
    ],
)
def test_teacher_forcing_loss_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_teacher_forcing_loss(fn, seed=1), *fragments)


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


# --- token_budget_batches (pairs: each side padded to its own longest) -----------------------------------------
def _cost(batch, source, target):
    return len(batch) * (max(source[i] for i in batch) + max(target[i] for i in batch))


def _greedy(order, source, target, max_tokens, cost=_cost):
    batches, batch = [], []
    for i in order:
        if batch and cost([*batch, i], source, target) > max_tokens:
            batches.append(batch)
            batch = []
        batch.append(i)
    return batches + [batch] if batch else batches


def token_budget_batches(source, target, max_tokens):
    return _greedy(sorted(range(len(source)), key=lambda i: source[i] + target[i]), source, target, max_tokens)


def token_budget_batches_by_source_then_target(source, target, max_tokens):
    return _greedy(sorted(range(len(source)), key=lambda i: (source[i], target[i])), source, target, max_tokens)


def unsorted(source, target, max_tokens):
    return _greedy(range(len(source)), source, target, max_tokens)


def longest_pair(source, target, max_tokens):  # section 2's cost: the longest (source + target) of one pair
    def cost(batch, source, target):
        return len(batch) * max(source[i] + target[i] for i in batch)

    return _greedy(sorted(range(len(source)), key=lambda i: source[i] + target[i]), source, target, max_tokens, cost)


def counts_real_tokens(source, target, max_tokens):
    def cost(batch, source, target):
        return sum(source[i] + target[i] for i in batch)

    return _greedy(sorted(range(len(source)), key=lambda i: source[i] + target[i]), source, target, max_tokens, cost)


@pytest.mark.parametrize("fn", [token_budget_batches, token_budget_batches_by_source_then_target])
def test_token_budget_batches_accepts_correct_answers(fn) -> None:
    assert_accepted(check_token_budget_batches, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (longest_pair, ["ITS OWN longest sentence"]),
        (counts_real_tokens, ["longest source + longest target"]),
        (unsorted, ["sort the pairs by length"]),
        (lambda s, t, m: token_budget_batches(s[:-1], t[:-1], m), ["exactly once"]),  # the last one lost
        (lambda s, t, m: range(len(s)), ["a list of lists"]),
    ],
)
def test_token_budget_batches_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_token_budget_batches(fn, seed=2), *fragments)


def test_bad_input_gives_feedback_not_a_crash() -> None:
    assert_rejected(check_teacher_forcing_loss("teacher_forcing_loss"), "something callable")

    def raises(logits, labels, epsilon):
        raise IndexError("index out of range")

    assert_rejected(check_smoothed_loss(raises), "IndexError", "index out of range")
