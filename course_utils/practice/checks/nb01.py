"""Checkers for notebook 01 (tensors): broadcasting rules, a strided view, pairwise distances."""

from __future__ import annotations

import numbers
import random
from collections.abc import Callable

import torch

from course_utils.practice.checks._common import random_source, random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


# --- Exercise 1: the broadcasting rule ------------------------------------------------------------------------
def _reference_broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast shape, or None when the shapes do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _random_pair(rng: random.Random) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes of different ranks with size-1 axes sprinkled in; about a third of them do not broadcast."""
    target = [rng.randint(2, 5) for _ in range(rng.randint(1, 4))]
    a = [1 if rng.random() < 0.3 else n for n in target]
    b = [1 if rng.random() < 0.3 else n for n in target]
    a, b = a[rng.randint(0, len(a) - 1):], b[rng.randint(0, len(b) - 1):]  # drop leading axes
    if rng.random() < 0.35:
        i = rng.randrange(min(len(a), len(b)))
        a[-1 - i], b[-1 - i] = target[-1 - i], target[-1 - i] + rng.randint(1, 3)  # a clash
    return (tuple(a), tuple(b)) if rng.random() < 0.5 else (tuple(b), tuple(a))


@exercise("01", "broadcast_shape")
def check_broadcast_shape(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``broadcast_shape(a, b)``: for two shapes (tuples of ints) return their broadcast shape as a tuple,
    or raise ``ValueError`` when they do not broadcast. Compared with the rule on random shapes of ranks 0-4
    (and with ``torch.broadcast_shapes``), including size-1 axes, missing leading axes and clashes."""
    rng = random_source(seed)
    fixed = [((), (3,)), ((4, 1), (5,)), ((2, 3), (3, 2)), ((5, 1, 4), (3, 1))]  # scalars, the lesson, a clash

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_broadcast_shape(broadcast_shape)")
        for a, b in fixed + [_random_pair(rng) for _ in range(trials)]:
            case = current["case"] = f"broadcast_shape({a}, {b})"
            want = _reference_broadcast(a, b)
            try:
                got = fn(a, b)
            except ValueError as error:
                if want is None:
                    continue
                raise fail(case, want, f"ValueError: {error}",
                           "line the shapes up from the RIGHT; sizes are compatible when equal or when one of them "
                           "is 1 (or missing)") from None
            if want is None:
                raise fail(case, "ValueError (they do not broadcast)", got,
                           "line the shapes up from the right; two sizes > 1 that differ cannot broadcast: "
                           "raise ValueError")
            if not _is_shape(got):  # compared only once it is one: a tuple of tensors must not crash the checker
                raise fail(case, want, f"{type(got).__name__} {show(got, 120)}",
                           "return a tuple of ints, such as (4, 5)")
            if tuple(got) != want:
                hint = ("line the shapes up from the RIGHT (the last axes meet), not from the left"
                        if len(a) != len(b) else "each result size is the larger of the two (one of them is 1)")
                raise fail(case, want, got, f"{hint}; return a tuple")

    return run_check("broadcast_shape", trials, body)


def _is_shape(value: object) -> bool:
    """A tuple, list or torch.Size of ints (numpy ints too): something a shape can be compared with."""
    return isinstance(value, (tuple, list, torch.Size)) and all(
        isinstance(size, numbers.Integral) and not isinstance(size, bool) for size in value)


# --- Exercise 2: a strided view -------------------------------------------------------------------------------
@exercise("01", "windows_view")
def check_windows_view(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``windows_view(x, size, step)``: for a 1-d tensor ``x``, a 2-d tensor whose row ``i`` is
    ``x[i * step : i * step + size]``, one row per window that fits, that is a **view** of ``x`` (no copy:
    it shares ``x``'s storage). Inputs include non-contiguous ``x`` (a step slice with an offset)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_windows_view(windows_view)")
        for trial in range(trials):
            base = torch.randint(0, 100, (rng.randint(8, 40),), generator=gen)
            start, stride = (0, 1) if trial == 0 else (rng.randint(0, 3), rng.randint(1, 3))
            x = base[start::stride]
            size, step = rng.randint(1, max(1, min(5, len(x)))), rng.randint(1, 3)
            shown = "torch.arange(...)" if trial == 0 else f"base[{start}::{stride}] of a {len(base)}-element base"
            case = current["case"] = (f"windows_view(x, size={size}, step={step}) with x = {shown}, "
                                      f"x.stride()={x.stride()}, x.storage_offset()={x.storage_offset()}")
            want = x.unfold(0, size, step)
            got = fn(x, size, step)
            if problem := tensor_problem(got, want):
                hint = ("windows that fit: (len(x) - size) // step + 1" if "shape" in problem else
                        "build the view from x's own layout: x.as_strided((n, size), (step * s, s), "
                        "x.storage_offset()) with s = x.stride(0)")
                raise fail(case, show(want), show(got), f"{problem}; {hint}")
            if got.untyped_storage().data_ptr() != x.untyped_storage().data_ptr():
                raise fail(case, "a view that shares x's storage", "a tensor with memory of its own (a copy)",
                           "torch.stack/cat/clone copy; as_strided (or unfold) only sets shape, stride and offset")

    return run_check("windows_view", trials, body)


# --- Exercise 3: pairwise squared distances -------------------------------------------------------------------
@exercise("01", "pairwise_sq_dists")
def check_pairwise_sq_dists(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``pairwise_sq_dists(a, b)``: for ``a`` of shape ``(n, d)`` and ``b`` of shape ``(m, d)``, the
    ``(n, m)`` matrix of squared Euclidean distances ``((a[i] - b[j]) ** 2).sum()``, on random float32 inputs
    (some rows of ``b`` are copies of rows of ``a``: their distance is 0)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_pairwise_sq_dists(pairwise_sq_dists)")
        for _ in range(trials):
            n, m, d = rng.randint(1, 7), rng.randint(1, 9), rng.randint(1, 12)
            while m == n:
                m = rng.randint(1, 9)
            a = torch.randn(n, d, generator=gen) * rng.choice([0.5, 1.0, 3.0])
            b = torch.randn(m, d, generator=gen)
            b[0] = a[-1]
            case = current["case"] = f"pairwise_sq_dists(a, b), a: {tuple(a.shape)}, b: {tuple(b.shape)} (random)"
            want = ((a.double()[:, None, :] - b.double()[None, :, :]) ** 2).sum(-1).float()
            got = fn(a.clone(), b.clone())
            if problem := tensor_problem(got, want, atol=1e-3, rtol=1e-4):
                hint = ("entry [i, j] pairs row i of a with row j of b: (n, m)" if "shape" in problem else
                        "squared distances (no square root): |a|^2 - 2 a.b + |b|^2, with |a|^2 as (n, 1) and "
                        "|b|^2 as (m,)")
                raise fail(case, show(want, 200), show(got, 200), f"{problem}; {hint}")

    return run_check("pairwise_sq_dists", trials, body)


# --- Exercise 3 (find the bug): a per-row reduction that must broadcast back ------------------------------------
@exercise("01", "softmax_rows")
def check_softmax_rows(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``softmax_rows(x)`` for a 2-d ``x`` of shape ``(n, d)``: the softmax of each row (what
    ``torch.softmax(x, dim=1)`` gives), computed stably (each row's max subtracted before ``exp``). Square inputs
    come first: there a per-row result of shape ``(n,)`` broadcasts along the wrong axis without an error."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_softmax_rows(softmax_rows)")
        for trial in range(trials):
            n = rng.randint(2, 6)
            d = n if trial % 2 == 0 else rng.choice([k for k in range(2, 8) if k != n])
            scale = 100.0 if trial % 4 == 3 else rng.uniform(0.5, 3)  # large logits: exp overflows unless shifted
            x = torch.randn(n, d, generator=gen) * scale
            case = current["case"] = f"softmax_rows(x) with x of shape {(n, d)}" + (
                f", logits up to {x.abs().max().item():.0f}" if scale > 10 else "")
            want = torch.softmax(x, dim=1)
            try:
                got = fn(x.clone())
            except RuntimeError as error:
                if "must match the size" not in str(error):
                    raise
                raise fail(case, f"a tensor of shape {(n, d)}", f"RuntimeError: {str(error)[:100]}",
                           f"a reduction over dim=1 has shape ({n},); broadcasting lines it up with the LAST axis of "
                           f"x (size {d}), not with the rows: keep the reduced axis (keepdim=True), shape ({n}, 1)"
                           ) from None
            if isinstance(got, torch.Tensor) and tensor_problem(got, want, atol=1e-5) is None:
                continue
            hint = "subtract each row's max, exp, divide by each row's sum: every reduction with keepdim=True"
            if isinstance(got, torch.Tensor) and got.shape == want.shape:
                if torch.allclose(got, torch.softmax(x, dim=0), atol=1e-5):
                    hint = "each column sums to 1 here: dim=0 reduces over the rows; each row must sum to 1: dim=1"
                elif not torch.isfinite(got).all():
                    hint = "exp overflowed to inf (inf / inf = nan): subtract each row's max before exp"
                elif n == d:
                    hint = (f"no error, but rows do not sum to 1: a per-row max or sum of shape ({n},) broadcasts "
                            f"along the LAST axis, so column j is shifted or divided by row j's value. keepdim=True "
                            f"keeps it ({n}, 1), one value per row")
            raise fail(case, show(want, 100), show(got, 100) if isinstance(got, torch.Tensor) else got, hint)

    return run_check("softmax_rows", trials, body)
