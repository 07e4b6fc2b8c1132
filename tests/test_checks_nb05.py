"""Notebook 05's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb05 import check_class_weights, check_last_outputs, check_top_k_accuracy


# --- class_weights --------------------------------------------------------------------------------------------
def class_weights(labels, num_classes):
    counts = torch.bincount(labels, minlength=num_classes)
    return (len(labels) / (num_classes * counts.clamp(min=1))).float()


def class_weights_loop(labels, num_classes):
    counts = [max(1, int((labels == c).sum())) for c in range(num_classes)]
    return torch.tensor([len(labels) / (num_classes * n) for n in counts])


@pytest.mark.parametrize("fn", [class_weights, class_weights_loop])
def test_class_weights_accepts_correct_answers(fn) -> None:
    assert_accepted(check_class_weights, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda y, c: len(y) / (c * torch.bincount(y, minlength=c).float()), ["divide by zero", "clamp(min=1)"]),
        (lambda y, c: 1.0 / torch.bincount(y, minlength=c).clamp(min=1).float(), ["mean weight over the examples"]),
        (lambda y, c: (len(y) / (c * torch.bincount(y).clamp(min=1))).float(), ["shape", "minlength"]),
    ],
)
def test_class_weights_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_class_weights(fn, seed=1), *fragments)


# --- last_outputs ---------------------------------------------------------------------------------------------
def last_outputs(outputs, lengths):
    return outputs[torch.arange(len(lengths)), lengths - 1]


def last_outputs_gather(outputs, lengths):
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, index).squeeze(1)


@pytest.mark.parametrize("fn", [last_outputs, last_outputs_gather])
def test_last_outputs_accepts_correct_answers(fn) -> None:
    assert_accepted(check_last_outputs, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda out, lengths: out[:, -1], ["the last PADDED step"]),
        (lambda out, lengths: out[torch.arange(len(lengths)), (lengths - 2).clamp(min=0)], ["its own last step"]),
        (lambda out, lengths: out[:, lengths - 1], ["shape"]),
        (lambda out, lengths: out[torch.arange(len(lengths)), lengths], ["your code raised IndexError"]),
    ],
)
def test_last_outputs_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_last_outputs(fn, seed=2), *fragments)


# --- top_k_accuracy -------------------------------------------------------------------------------------------
def top_k_accuracy(logits, targets, k):
    return (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1).float().mean().item()


def top_k_by_rank(logits, targets, k):  # a different route: the rank of the target's score
    target_scores = logits.gather(1, targets[:, None])
    rank = (logits > target_scores).sum(dim=1)
    return (rank < k).double().mean()


@pytest.mark.parametrize("fn", [top_k_accuracy, top_k_by_rank])
def test_top_k_accepts_correct_answers(fn) -> None:
    assert_accepted(check_top_k_accuracy, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda z, t, k: (z.argmax(1) == t).float().mean().item(), ["k="]),
        (lambda z, t, k: top_k_accuracy(-z, t, k), ["topk(k, dim=1)"]),
        (lambda z, t, k: (z.topk(k, dim=1).indices == t[:, None]).any(dim=1).sum().item() + 5, ["divide by N"]),
        (lambda z, t, k: (z.topk(k, dim=0).indices == t[:, None]).any(dim=1).float().mean().item(), ["input:"]),
    ],
)
def test_top_k_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_top_k_accuracy(fn, seed=3), *fragments)


def test_last_outputs_find_the_bug() -> None:
    """The student edition's starting code (the last padded column) fails with the padding hint; the fix passes."""

    def buggy(outputs, lengths):  # what the student edition starts from
        return outputs[:, -1]

    assert_rejected(check_last_outputs(buggy, seed=5), "the last PADDED step", "lengths[b] - 1")
    assert_accepted(check_last_outputs, last_outputs)
    # a plausible wrong fix: one step for the whole batch (the shortest name's end) instead of one per row
    assert_rejected(check_last_outputs(lambda out, lengths: out[:, int(lengths.min()) - 1], seed=5),
                    "its own last step")
