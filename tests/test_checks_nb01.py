"""Notebook 01's checkers accept correct answers (several ways of writing them) and reject plausible wrong ones
with feedback that names the input, the expected and obtained values and a hint."""

from __future__ import annotations

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks.nb01 import (
    check_broadcast_shape,
    check_pairwise_sq_dists,
    check_softmax_rows,
    check_windows_view,
)


# --- broadcast_shape ------------------------------------------------------------------------------------------
def broadcast_shape(a, b):
    a, b = (1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"{x} vs {y}")
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(out)


def broadcast_shape_via_torch(a, b):
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError as error:
        raise ValueError(str(error)) from None


def broadcast_from_the_left(a, b):
    a, b = tuple(a) + (1,) * (len(b) - len(a)), tuple(b) + (1,) * (len(a) - len(b))
    return broadcast_shape(a, b)


def broadcast_never_raises(a, b):
    a, b = (1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


def broadcast_zip_truncates(a, b):
    return tuple(max(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("fn", [broadcast_shape, broadcast_shape_via_torch])
def test_broadcast_shape_accepts_correct_answers(fn) -> None:
    assert_accepted(check_broadcast_shape, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (broadcast_from_the_left, ["from the RIGHT", "input:", "expected:", "got:"]),
        (broadcast_never_raises, ["ValueError (they do not broadcast)", "broadcast_shape((2, 3), (3, 2))"]),
        (broadcast_zip_truncates, ["broadcast_shape((), (3,))", "expected: (3,)", "got:      ()"]),
        (lambda a, b: list(broadcast_shape(a, b))[:-1], ["hint:"]),
        ((2, 3), ["pass the function without calling it"]),
    ],
)
def test_broadcast_shape_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_broadcast_shape(fn, seed=0), *fragments)


# --- windows_view ---------------------------------------------------------------------------------------------
def windows_view(x, size, step):
    n = (len(x) - size) // step + 1
    s = x.stride(0)
    return x.as_strided((n, size), (step * s, s), x.storage_offset())


def windows_copy(x, size, step):
    return torch.stack([x[i : i + size] for i in range(0, len(x) - size + 1, step)])


def windows_contiguous_only(x, size, step):
    n = (len(x) - size) // step + 1
    return x.as_strided((n, size), (step, 1))  # ignores x's stride and offset


def windows_one_too_few(x, size, step):
    n = (len(x) - size) // step
    return x.as_strided((n, size), (step * x.stride(0), x.stride(0)), x.storage_offset())


@pytest.mark.parametrize("fn", [windows_view, lambda x, size, step: x.unfold(0, size, step)])
def test_windows_view_accepts_correct_answers(fn) -> None:
    assert_accepted(check_windows_view, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (windows_copy, ["a view that shares x's storage", "a copy"]),
        (windows_contiguous_only, ["differs at index", "x.storage_offset()", "x.stride()=(", "base["]),
        (windows_one_too_few, ["shape", "(len(x) - size) // step + 1"]),
        (lambda x, size, step: windows_view(x, size, step).tolist(), ["a tensor is expected, got list"]),
    ],
)
def test_windows_view_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_windows_view(fn, seed=1), *fragments)


# --- pairwise_sq_dists ----------------------------------------------------------------------------------------
def dists_matmul(a, b):
    return ((a**2).sum(1, keepdim=True) - 2 * a @ b.T + (b**2).sum(1)).clamp_min(0)


def dists_broadcast(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("fn", [dists_matmul, dists_broadcast, lambda a, b: torch.cdist(a, b) ** 2])
def test_pairwise_sq_dists_accepts_correct_answers(fn) -> None:
    assert_accepted(check_pairwise_sq_dists, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda a, b: torch.cdist(a, b), ["values differ", "no square root"]),
        (lambda a, b: dists_matmul(b, a), ["shape", "row i of a with row j of b"]),
        (lambda a, b: ((a**2).sum(1, keepdim=True) - a @ b.T + (b**2).sum(1)), ["values differ"]),
        (lambda a, b: a @ b, ["your code raised RuntimeError", "input:"]),
    ],
)
def test_pairwise_sq_dists_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_pairwise_sq_dists(fn, seed=2), *fragments)


# --- softmax_rows (find the bug) ---------------------------------------------------------------------------------
def softmax_rows(x: torch.Tensor) -> torch.Tensor:
    shifted = x - x.max(dim=1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=1, keepdim=True)


def softmax_rows_indexing(x: torch.Tensor) -> torch.Tensor:  # another correct answer: [:, None] instead of keepdim
    e = (x - x.max(dim=1).values[:, None]).exp()
    return e / e.sum(dim=1)[:, None]


def softmax_rows_buggy(x: torch.Tensor) -> torch.Tensor:  # the notebook's bug: (n,) broadcasts along the columns
    e = (x - x.max(dim=1).values).exp()
    return e / e.sum(dim=1)


def softmax_rows_columns(x: torch.Tensor) -> torch.Tensor:
    e = (x - x.max(dim=0, keepdim=True).values).exp()
    return e / e.sum(dim=0, keepdim=True)


def softmax_rows_unstable(x: torch.Tensor) -> torch.Tensor:  # a wrong fix: drops the shift
    e = x.exp()
    return e / e.sum(dim=1, keepdim=True)


def softmax_rows_crashes_off_square(x: torch.Tensor) -> torch.Tensor:
    if x.shape[0] == x.shape[1]:
        return softmax_rows(x)
    return x - x.max(dim=1).values


@pytest.mark.parametrize("fn", [softmax_rows, softmax_rows_indexing])
def test_softmax_rows_accepts_correct_answers(fn) -> None:
    assert_accepted(check_softmax_rows, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (softmax_rows_buggy, ["input:", "rows do not sum to 1", "keepdim=True"]),
        (softmax_rows_columns, ["dim=0 reduces over the rows"]),
        (softmax_rows_unstable, ["logits up to", "subtract each row's max"]),
        (softmax_rows_crashes_off_square, ["RuntimeError", "LAST axis", "keepdim=True"]),
    ],
)
def test_softmax_rows_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_softmax_rows(fn, seed=0), *fragments)
