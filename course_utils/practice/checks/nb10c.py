"""Checkers for notebook 10c (a modern decoder, from its parts): RMSNorm, rotary position embeddings in the
rotate-half convention of transformers' Llama, ``repeat_kv`` for grouped-query attention, and a find-the-bug
attention layer with both (values rotated, key/value heads tiled instead of repeated in place).

The references are written out here (in float64, then compared in float32) so a check needs no model; they are
the formulas of ``transformers.models.llama.modeling_llama`` (``LlamaRMSNorm``, ``rotate_half`` +
``apply_rotary_pos_emb``, ``repeat_kv``), and tests/test_checks_nb10c.py checks that they agree with it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, tensor_problem


def _matches(got: object, wrong: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """True when the learner's ``got`` equals a plausible wrong answer (to name the mistake in the hint)."""
    return (isinstance(got, torch.Tensor) and got.shape == wrong.shape and not got.is_complex()
            and bool(torch.allclose(got.detach().cpu().double(), wrong.double(), atol=atol, rtol=rtol)))


def _first_hint(got: object, candidates: list[tuple[torch.Tensor, str]], default: str) -> str:
    for wrong, hint in candidates:
        if _matches(got, wrong):
            return hint
    return default


# --- Exercise 1: RMSNorm --------------------------------------------------------------------------------------
def reference_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``weight * x / sqrt(mean(x², last dim) + eps)``, computed in float64, returned in ``x``'s dtype."""
    x64 = x.double()
    return (weight.double() * x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _rms_norm_case(rng: random.Random, gen: torch.Generator, trial: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    shape = [rng.randint(1, 3) for _ in range(rng.randint(0, 2))] + [rng.randint(2, 6), rng.choice([4, 8, 16])]
    scale = 1e-3 if trial % 3 == 0 else rng.uniform(0.5, 4.0)  # tiny inputs: where eps matters
    x = torch.randn(*shape, generator=gen) * scale
    x = x + torch.randn(*shape[:-1], 1, generator=gen) * scale  # rows with a mean: not LayerNorm's input
    weight = 1.0 + 0.5 * torch.randn(shape[-1], generator=gen)
    return x, weight, rng.choice([1e-6, 1e-5, 1e-4])


def _rms_norm_hint(got: object, x: torch.Tensor, weight: torch.Tensor, eps: float) -> str:
    x64, w64 = x.double(), weight.double()
    mean_square = x64.pow(2).mean(-1, keepdim=True)
    centred = x64 - x64.mean(-1, keepdim=True)
    candidates = [
        (w64 * centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps),
         "that is LayerNorm: RMSNorm does not subtract the mean, it divides x by sqrt(mean(x²) + eps)"),
        (w64 * x64 / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps),
         "the root mean square is sqrt(mean(x²)), not the standard deviation (which subtracts the mean)"),
        (x64 * torch.rsqrt(mean_square + eps), "multiply by weight, the learned gain of each feature"),
        (w64 * x64 / (torch.sqrt(mean_square) + eps), "eps goes inside the square root: rsqrt(mean(x²) + eps)"),
        (w64 * x64 * torch.rsqrt(x64.pow(2).sum(-1, keepdim=True) + eps),
         "the MEAN of the squares: divide their sum by the number of features (or use .mean(-1))"),
        (w64 * x64 * torch.rsqrt(x64.pow(2).mean() + eps),
         "normalise each position on its own: the mean over the last dimension (dim=-1, keepdim=True)"),
    ]
    return _first_hint(got, candidates,
                       "weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)")


@exercise("10c", "rms_norm")
def check_rms_norm(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``rms_norm(x, weight, eps)``: ``weight * x / sqrt(mean(x², dim=-1) + eps)``, each position
    normalised over its last dimension (the features), as ``transformers``' ``LlamaRMSNorm`` computes it."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_rms_norm(rms_norm)")
        for trial in range(trials):
            x, weight, eps = _rms_norm_case(rng, gen, trial)
            case = current["case"] = (f"rms_norm(x of shape {tuple(x.shape)} (scale {x.abs().mean():.1e}), "
                                      f"weight of shape {tuple(weight.shape)}, eps={eps:g})")
            want = reference_rms_norm(x, weight, eps)
            got = fn(x.clone(), weight.clone(), eps)
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-4):
                raise fail(case, want, got, f"{problem}; {_rms_norm_hint(got, x, weight, eps)}")

    return run_check("rms_norm", trials, body)


# --- Exercise 2: rotary position embeddings -------------------------------------------------------------------
def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[len(positions), head_dim]`` as ``LlamaRotaryEmbedding`` makes them: frequency ``i`` of
    ``theta ** (-2i / head_dim)`` for the feature pairs ``(i, i + head_dim / 2)``, so both halves repeat."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    angles = positions[:, None].float() * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def reference_apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x * cos + rotate_half(x) * sin`` (rotate_half: ``[x1, x2] -> [-x2, x1]``), in float64."""
    x64 = x.double()
    return (x64 * cos.double() + _rotate_half(x64) * sin.double()).to(x.dtype)


def _interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The other convention (the RoPE paper, Meta's original code): pairs (2i, 2i + 1) rotate by angle i."""
    half = x.shape[-1] // 2
    c, s = cos[..., :half].double(), sin[..., :half].double()
    even, odd = x.double()[..., 0::2], x.double()[..., 1::2]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


def _apply_rope_hint(got: object, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> str:
    x64, c, s = x.double(), cos.double(), sin.double()
    first, second = x64.chunk(2, dim=-1)
    candidates = [
        (_interleaved(x, cos, sin),
         "that is the interleaved convention (pairs 2i, 2i + 1); transformers' Llama pairs feature i with feature "
         "i + head_dim / 2: rotate_half(x) = cat(-x2, x1) with x1, x2 the two halves of the last dimension"),
        (x64 * c + torch.cat((second, -first), dim=-1) * s,
         "the sign: rotate_half(x) = cat(-x2, x1) (minus the SECOND half comes first)"),
        (x64 * s + _rotate_half(x64) * c, "cos multiplies x itself and sin multiplies rotate_half(x)"),
        (x64 * c + x64 * s, "the sin term multiplies rotate_half(x), not x"),
        (x64, "rotate: return x * cos + rotate_half(x) * sin"),
    ]
    return _first_hint(got, candidates, "x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x2, x1)")


@exercise("10c", "apply_rope")
def check_apply_rope(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``apply_rope(x, cos, sin)``: rotary position embeddings in transformers' Llama convention,
    ``x * cos + rotate_half(x) * sin`` with ``rotate_half([x1, x2]) = [-x2, x1]`` (halves of the last
    dimension), for ``x`` ``[batch, heads, positions, head_dim]`` and ``cos``, ``sin`` ``[positions, head_dim]``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_apply_rope(apply_rope)")
        for _ in range(trials):
            batch, heads, length = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 6)
            head_dim, theta, start = rng.choice([4, 8, 16]), rng.choice([10_000.0, 100_000.0]), rng.randint(0, 50)
            x = torch.randn(batch, heads, length, head_dim, generator=gen)
            cos, sin = rope_cos_sin(torch.arange(start, start + length), head_dim, theta)
            case = current["case"] = (f"apply_rope(x of shape {tuple(x.shape)}, cos, sin of shape {tuple(cos.shape)}"
                                      f" for positions {start}..{start + length - 1}, theta={theta:g})")
            want = reference_apply_rope(x, cos, sin)
            got = fn(x.clone(), cos.clone(), sin.clone())
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-4):
                raise fail(case, want, got, f"{problem}; {_apply_rope_hint(got, x, cos, sin)}")

    return run_check("apply_rope", trials, body)


# --- Exercise 3: repeat_kv ------------------------------------------------------------------------------------
@exercise("10c", "repeat_kv")
def check_repeat_kv(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``repeat_kv(x, n_rep)``: ``[batch, n_kv_heads, positions, head_dim]`` ->
    ``[batch, n_kv_heads * n_rep, positions, head_dim]``, each key/value head copied for ``n_rep`` consecutive
    query heads (head ``h`` of the output is head ``h // n_rep`` of ``x``), as ``transformers``' ``repeat_kv``."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_repeat_kv(repeat_kv)")
        for trial in range(trials):
            n_kv, n_rep = (1, 1) if trial == 0 else (rng.randint(2, 4), rng.randint(1 if trial % 4 else 2, 4))
            x = torch.randn(rng.randint(1, 2), n_kv, rng.randint(1, 5), rng.choice([2, 4, 8]), generator=gen)
            case = current["case"] = f"repeat_kv(x of shape {tuple(x.shape)}, n_rep={n_rep})"
            want = x.repeat_interleave(n_rep, dim=1)
            got = fn(x.clone(), n_rep)
            if problem := tensor_problem(got, want, atol=0):
                hint = "repeat along dim 1 (the heads): x.repeat_interleave(n_rep, dim=1), or expand then reshape"
                if _matches(got, x.repeat(1, n_rep, 1, 1), atol=0, rtol=0):
                    hint = ("repeat tiles the heads (0, 1, 0, 1 ...): key/value head h must serve the n_rep "
                            "CONSECUTIVE query heads h * n_rep ... (h + 1) * n_rep - 1, so 0, 0, 1, 1 ...: "
                            "repeat_interleave(n_rep, dim=1)")
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("repeat_kv", trials, body)


# --- Find the bug: RoPE + grouped-query attention --------------------------------------------------------------
def _gqa_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   rotate_values: bool = False, tile: bool = False) -> torch.Tensor:
    """Causal GQA with RoPE on q and k (``rotate_values``, ``tile``: the two mistakes the exercise plants)."""
    group = q.shape[1] // k.shape[1]
    q, k = reference_apply_rope(q, cos, sin), reference_apply_rope(k, cos, sin)
    if rotate_values:
        v = reference_apply_rope(v, cos, sin)
    if tile:
        k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
    else:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


@exercise("10c", "rope_gqa_attention")
def check_rope_gqa_attention(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``rope_gqa_attention(q, k, v, cos, sin)``: ``q`` ``[batch, n_heads, T, d]``, ``k``, ``v``
    ``[batch, n_kv_heads, T, d]``, ``cos``, ``sin`` ``[T, d]``: queries and keys (not values) rotated in the
    rotate-half convention, key/value head ``h // (n_heads // n_kv_heads)`` serving query head ``h``, causal
    attention. Always with fewer key/value heads than query heads."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_rope_gqa_attention(rope_gqa_attention)")
        for _ in range(trials):
            n_kv, group = rng.randint(2, 3), rng.randint(2, 3)
            batch, length, head_dim = rng.randint(1, 2), rng.randint(2, 6), rng.choice([4, 8])
            q = torch.randn(batch, n_kv * group, length, head_dim, generator=gen)
            k, v = (torch.randn(batch, n_kv, length, head_dim, generator=gen) for _ in range(2))
            cos, sin = rope_cos_sin(torch.arange(length), head_dim, 10_000.0)
            case = current["case"] = (f"rope_gqa_attention(q {tuple(q.shape)}, k {tuple(k.shape)}, "
                                      f"v {tuple(v.shape)}, cos, sin {tuple(cos.shape)})")
            want = _gqa_reference(q, k, v, cos, sin)
            got = fn(q.clone(), k.clone(), v.clone(), cos.clone(), sin.clone())
            if problem := tensor_problem(got, want, atol=1e-5, rtol=1e-4):
                values = ("the values are rotated too: RoPE turns queries and keys so that their SCORE depends on "
                          "the distance; a value is what a token contributes, and rotating it by its position "
                          "mixes its features (position 0, angle 0, is the only one left unchanged)")
                tiled = ("key/value head h must serve the CONSECUTIVE query heads h * group ... (h + 1) * group "
                         "- 1 (0, 0, 1, 1 ...); repeat(1, group, 1, 1) tiles them (0, 1, 0, 1 ...): "
                         "repeat_interleave(group, dim=1)")
                hint = _first_hint(got, [
                    (_gqa_reference(q, k, v, cos, sin, rotate_values=True), values),
                    (_gqa_reference(q, k, v, cos, sin, tile=True), tiled),
                    (_gqa_reference(q, k, v, cos, sin, rotate_values=True, tile=True),
                     values + "; and then: " + tiled),
                ], "rotate q and k (not v) with x * cos + rotate_half(x) * sin, repeat_interleave k and v over "
                   "dim 1, then causal attention")
                raise fail(case, want, got, f"{problem}; {hint}")

    return run_check("rope_gqa_attention", trials, body)
