"""Checkers for notebook 10a (attention from first principles): causal attention (a find-the-bug exercise: the
mask applied after the softmax), splitting the model dimension into heads, and a sliding-window mask. References
are PyTorch's own ``F.scaled_dot_product_attention`` and plain loops over positions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


# --- Find the bug: causal attention ----------------------------------------------------------------------------
def _causal_hint(weights: object, out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
    """Name what is wrong with a causal attention whose output differs from PyTorch's."""
    length = q.shape[-2]
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    if isinstance(weights, torch.Tensor) and weights.shape == (*q.shape[:-1], length):
        sums = weights.sum(-1)
        if not bool(torch.isfinite(weights).all()):
            return ("the weights hold -inf or NaN: -inf belongs in the SCORES before the softmax, which turns it "
                    "into a weight of exactly 0")
        if bool((weights[..., future].abs() > 1e-6).any()):
            return ("a query puts weight on a LATER key: the future leaks into the output (the causal mask must "
                    "blank the keys after each query, the upper triangle)")
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            return (f"the rows of the weights sum to {sums.min().item():.2f} ... {sums.max().item():.2f}, not 1: "
                    "zeroing weights AFTER the softmax leaves each row short of 1; mask the scores before it")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if torch.allclose(out, scores.masked_fill(future, 0.0).softmax(-1) @ v, atol=1e-5, rtol=1e-4):
        return ("a masked score of 0 still gets a weight e^0 / sum after the softmax: fill with float('-inf'), "
                "whose exponential is exactly 0")
    return "mask the SCORES (future keys -> -inf), then softmax over the keys (dim=-1), then @ value"


@exercise("10a", "causal_attention")
def check_causal_attention(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``causal_attention(query, key, value)`` -> ``(output, weights)`` for ``[batch, heads, T, d]`` inputs:
    query ``i`` attends keys ``0 .. i`` only, each row of ``weights`` ``[batch, heads, T, T]`` sums to 1, and a
    change at a later position never changes an earlier output. Compared with
    ``F.scaled_dot_product_attention(..., is_causal=True)``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_causal_attention(causal_attention)")
        for _ in range(trials):
            batch, heads, length = rng.randint(1, 3), rng.randint(1, 3), rng.randint(2, 7)
            d_k, d_v = rng.choice([2, 4, 8]), rng.randint(1, 5)
            q = torch.randn(batch, heads, length, d_k, generator=gen) * 2
            k = torch.randn(batch, heads, length, d_k, generator=gen) * 2
            v = torch.randn(batch, heads, length, d_v, generator=gen)
            case = current["case"] = f"causal_attention(q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)})"
            want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            got = fn(q.clone(), k.clone(), v.clone())
            if not (isinstance(got, tuple) and len(got) == 2):
                raise fail(case, "a tuple (output, weights)", got, "return both: output, weights")
            out, weights = got
            if problem := tensor_problem(out, want, atol=1e-5, rtol=1e-4):
                hint = _causal_hint(weights, out, q, k, v) if isinstance(out, torch.Tensor) else "return the output"
                raise fail(case, show(want), show(out), f"{problem}; {hint}")
            want_weights = (q @ k.transpose(-2, -1) / math.sqrt(d_k)).masked_fill(
                torch.ones(length, length, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
            if problem := tensor_problem(weights, want_weights, atol=1e-5, rtol=1e-4):
                raise fail(case + " (the weights)", show(want_weights), show(weights),
                           f"{problem}; {_causal_hint(weights, out, q, k, v)}")

    return run_check("causal_attention", trials, body)


# --- Exercise 2: splitting into heads ---------------------------------------------------------------------------
@exercise("10a", "split_heads")
def check_split_heads(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``split_heads(x, n_heads)``: ``[batch, time, d_model]`` -> ``[batch, n_heads, time, d_model //
    n_heads]``, head h holding features ``h * d_head`` to ``(h + 1) * d_head - 1`` of every position."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_split_heads(split_heads)")
        for _ in range(trials):
            batch, time, heads, d_head = rng.randint(1, 3), rng.randint(2, 6), rng.randint(2, 4), rng.randint(1, 4)
            x = torch.randn(batch, time, heads * d_head, generator=gen)
            case = current["case"] = f"split_heads(x of shape {tuple(x.shape)}, n_heads={heads})"
            want = x.view(batch, time, heads, d_head).transpose(1, 2)
            got = fn(x.clone(), heads)
            if problem := tensor_problem(got, want, atol=0):
                hint = "view as [batch, time, n_heads, d_head], then transpose(1, 2)"
                if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.equal(
                        got, x.reshape(batch, heads, time, d_head)):
                    hint = ("reshaping straight to [batch, n_heads, time, d_head] mixes positions into heads: "
                            "view(batch, time, n_heads, d_head) first, then transpose(1, 2)")
                raise fail(case, show(want), show(got), f"{problem}; {hint}")

    return run_check("split_heads", trials, body)


# --- Exercise 3: a sliding-window mask --------------------------------------------------------------------------
@exercise("10a", "sliding_window_mask")
def check_sliding_window_mask(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``sliding_window_mask(length, w)``: a boolean ``[length, length]`` tensor, True where query ``i``
    may attend key ``j``: causal (``j <= i``) and at most ``w - 1`` positions back (``i - j < w``)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_sliding_window_mask(sliding_window_mask)")
        for _ in range(trials):
            length, w = rng.randint(1, 9), rng.randint(1, 10)
            case = current["case"] = f"sliding_window_mask(length={length}, w={w})"
            rows = [[0 <= i - j < w for j in range(length)] for i in range(length)]
            want = torch.tensor(rows).reshape(length, length)
            got = fn(length, w)
            if isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype != torch.bool:
                raise fail(case, show(want), show(got), "return a boolean tensor (True = may attend): .bool()")
            if problem := tensor_problem(got, want, atol=0):
                hint = "True where 0 <= i - j < w: causal, and at most w - 1 positions back"
                if isinstance(got, torch.Tensor) and got.shape == want.shape:
                    wider = torch.tensor([[0 <= i - j <= w for j in range(length)] for i in range(length)])
                    if torch.equal(got.bool(), wider.reshape(length, length)):
                        hint = "off by one: a window of w keys reaches back w - 1 positions (i - j < w)"
                    elif bool((got.bool() & ~torch.ones(length, length, dtype=torch.bool).tril()).any()):
                        hint = "a query may not see later keys: keep the mask causal (j <= i)"
                raise fail(case, show(want), show(got), f"{problem}; {hint}")

    return run_check("sliding_window_mask", trials, body)
