"""Checkers for notebook 10a (attention from first principles): scaled dot-product attention with a boolean
mask, splitting the model dimension into heads, and a sliding-window mask. References are PyTorch's own
``F.scaled_dot_product_attention`` and plain loops over positions."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


def _as_output(got: object) -> object:
    """Accept ``output`` or ``(output, weights)``: the notebook's own function returns both."""
    return got[0] if isinstance(got, tuple) and len(got) == 2 else got


# --- Exercise 1: attention ------------------------------------------------------------------------------------
@exercise("10a", "attention")
def check_attention(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``attention(query, key, value, mask=None)``: ``softmax(Q K^T / sqrt(d_k)) V`` over the last two
    dimensions (``[..., queries, d_k]``, ``[..., keys, d_k]``, ``[..., keys, d_v]``), where a boolean ``mask``
    (broadcastable to ``[..., queries, keys]``) is True where a query may attend. Returning ``(output, weights)``
    is accepted too. Compared with ``F.scaled_dot_product_attention`` on random shapes and masks."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_attention(attention)")
        for trial in range(trials):
            batch, heads, queries, keys = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 6), rng.randint(2, 6)
            d_k, d_v = rng.choice([2, 4, 16]), rng.randint(1, 5)
            q = torch.randn(batch, heads, queries, d_k, generator=gen) * 2
            k = torch.randn(batch, heads, keys, d_k, generator=gen) * 2
            v = torch.randn(batch, heads, keys, d_v, generator=gen)
            mask = None
            if trial % 3:  # a random mask that leaves every query at least one key
                mask = torch.rand(queries, keys, generator=gen) < 0.6
                mask[torch.arange(queries), torch.randint(keys, (queries,), generator=gen)] = True
            shown = "None" if mask is None else f"bool {tuple(mask.shape)}"
            case = current["case"] = (f"attention(q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, "
                                      f"mask={shown})")
            want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            got = _as_output(fn(q.clone(), k.clone(), v.clone(), None if mask is None else mask.clone()))
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-4):
                raise fail(case, show(want), show(got), f"{problem}; {_attention_hint(got, q, k, v, mask)}")

    return run_check("attention", trials, body)


def _attention_hint(got: object, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> str:
    """Name the usual mistake when ``got`` equals a plausible wrong formula."""
    if not isinstance(got, torch.Tensor):
        return "return the attention output, a tensor of shape [..., queries, d_v]"
    scores = q @ k.transpose(-2, -1)
    scaled = scores / math.sqrt(q.shape[-1])

    def output(s: torch.Tensor, keep: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
        if keep is not None:
            s = s.masked_fill(~keep, float("-inf"))
        return s.softmax(dim=dim).nan_to_num(0.0) @ v

    candidates = [
        (output(scores, mask), "divide the scores by sqrt(d_k) = sqrt(query.shape[-1]) before the softmax"),
        (output(scaled, mask, dim=-2), "the softmax runs over the KEYS (dim=-1): each query's weights sum to 1"),
        (output(scaled, None), "apply the mask: masked_fill(~mask, float('-inf')) before the softmax"),
    ]
    if mask is not None:
        candidates.append((output(scaled, ~mask), "True means MAY attend: fill where the mask is False (~mask)"))
    for wrong, hint in candidates:
        if got.shape == wrong.shape and torch.allclose(got, wrong, atol=1e-5, rtol=1e-4):
            return hint
    return "scores = q @ k.transpose(-2, -1) / sqrt(d_k); mask; softmax over the last dim; @ v"


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
