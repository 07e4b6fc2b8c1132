"""Notebook 10c's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from checker_helpers import assert_accepted, assert_rejected, stub

from course_utils.practice.checks import nb10c
from course_utils.practice.checks.nb10c import (
    check_apply_rope,
    check_repeat_kv,
    check_rms_norm,
    check_rope_gqa_attention,
)


# --- rms_norm -------------------------------------------------------------------------------------------------
def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rms_norm_by_hand(x, weight, eps):
    rms = torch.sqrt((x * x).sum(dim=-1, keepdim=True) / x.shape[-1] + eps)
    return x / rms * weight


def layer_norm(x, weight, eps):
    return F.layer_norm(x, x.shape[-1:], weight, None, eps)


def std_not_rms(x, weight, eps):
    return weight * x / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps)


@pytest.mark.parametrize("fn", [rms_norm, rms_norm_by_hand])
def test_rms_norm_accepts_correct_answers(fn) -> None:
    assert_accepted(check_rms_norm, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (layer_norm, ["LayerNorm", "does not subtract the mean"]),
        (std_not_rms, ["not the standard deviation"]),
        (lambda x, w, eps: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps), ["multiply by weight"]),
        (lambda x, w, eps: w * x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps), ["inside the square root"]),
        (lambda x, w, eps: w * x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + eps), ["MEAN of the squares"]),
        (lambda x, w, eps: w * x * torch.rsqrt(x.pow(2).mean() + eps), ["last dimension"]),
        (lambda x, w, eps: w * x * torch.rsqrt(x.pow(2).mean(-1) + eps), ["shape"]),
        (lambda x, w, eps: (w * x).tolist(), ["a tensor is expected"]),
    ],
)
def test_rms_norm_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_rms_norm(fn, seed=1), *fragments)


# --- apply_rope -----------------------------------------------------------------------------------------------
def apply_rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def apply_rope_complex(x, cos, sin):
    """The same rotation written with complex numbers on the pairs (i, i + d/2)."""
    half = x.shape[-1] // 2
    pairs = torch.complex(x[..., :half], x[..., half:])
    turned = pairs * torch.complex(cos[..., :half], sin[..., :half])
    return torch.cat((turned.real, turned.imag), dim=-1)


def interleaved(x, cos, sin):
    half = x.shape[-1] // 2
    c, s = cos[..., :half], sin[..., :half]
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


def wrong_sign(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((x2, -x1), dim=-1) * sin


def swapped(x, cos, sin):
    return apply_rope(x, sin, cos)


@pytest.mark.parametrize("fn", [apply_rope, apply_rope_complex])
def test_apply_rope_accepts_correct_answers(fn) -> None:
    assert_accepted(check_apply_rope, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (interleaved, ["interleaved convention"]),
        (wrong_sign, ["the sign"]),
        (swapped, ["cos multiplies x itself"]),
        (lambda x, cos, sin: x * cos + x * sin, ["multiplies rotate_half(x), not x"]),
        (lambda x, cos, sin: x, ["rotate: return x * cos"]),
        (lambda x, cos, sin: apply_rope(x, cos, sin)[..., 0], ["shape"]),
        (lambda x, cos, sin: apply_rope_complex(x, cos, sin).to(torch.complex64), ["complex"]),
    ],
)
def test_apply_rope_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_apply_rope(fn, seed=1), *fragments)


# --- repeat_kv ------------------------------------------------------------------------------------------------
def repeat_kv(x, n_rep):
    return x.repeat_interleave(n_rep, dim=1)


def repeat_kv_expand(x, n_rep):
    batch, heads, length, head_dim = x.shape
    return x[:, :, None].expand(batch, heads, n_rep, length, head_dim).reshape(batch, heads * n_rep, length, head_dim)


@pytest.mark.parametrize("fn", [repeat_kv, repeat_kv_expand])
def test_repeat_kv_accepts_correct_answers(fn) -> None:
    assert_accepted(check_repeat_kv, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda x, n: x.repeat(1, n, 1, 1), ["repeat tiles the heads", "CONSECUTIVE"]),
        (lambda x, n: x.repeat_interleave(n, dim=2), ["shape", "dim 1"]),
        (lambda x, n: x, ["shape"]),
    ],
)
def test_repeat_kv_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_repeat_kv(fn, seed=1), *fragments)


# --- the references are transformers' Llama ------------------------------------------------------------------
def test_the_references_agree_with_transformers_llama() -> None:
    from transformers import LlamaConfig
    from transformers.models.llama import modeling_llama as llama

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 16, generator=gen)
    norm = llama.LlamaRMSNorm(16, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(16, generator=gen))
        torch.testing.assert_close(nb10c.reference_rms_norm(x, norm.weight, 1e-5), norm(x))
    config = LlamaConfig(hidden_size=64, num_attention_heads=4, head_dim=16,
                         rope_parameters={"rope_type": "default", "rope_theta": 100_000.0})
    positions = torch.arange(7, 12)
    cos, sin = llama.LlamaRotaryEmbedding(config)(x, positions[None])
    ours_cos, ours_sin = nb10c.rope_cos_sin(positions, 16, 100_000.0)
    torch.testing.assert_close((ours_cos, ours_sin), (cos[0], sin[0]))
    q, k = llama.apply_rotary_pos_emb(x, x.flip(1), cos, sin)
    torch.testing.assert_close(nb10c.reference_apply_rope(x, ours_cos, ours_sin), q)
    torch.testing.assert_close(nb10c.reference_apply_rope(x.flip(1), ours_cos, ours_sin), k)
    assert torch.equal(llama.repeat_kv(x, 3), x.repeat_interleave(3, dim=1))


# --- bad input, and the learner's random state -------------------------------------------------------------
def test_bad_input_gives_feedback_not_a_crash() -> None:
    assert_rejected(check_rms_norm(42), "something callable")
    assert_rejected(check_apply_rope(apply_rope(torch.ones(1, 1, 1, 2), torch.ones(1, 2), torch.zeros(1, 2))),
                    "something callable")

    def raises(x, n_rep):
        raise RuntimeError("shapes do not match")

    assert_rejected(check_repeat_kv(raises), "RuntimeError", "shapes do not match", "repeat_kv(x of shape")
    assert_rejected(check_rms_norm(lambda x, w, eps: None), "returned None")


def test_checkers_leave_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_rms_norm(rms_norm, trials=2)
    check_apply_rope(lambda x, cos, sin: torch.randn_like(x), trials=2)  # the learner's code draws, too
    check_repeat_kv(repeat_kv, trials=2)
    assert torch.equal(torch.rand(3), expected)


# --- rope_gqa_attention (find the bug: values rotated, key/value heads tiled) -----------------------------------
def _rope(x, cos, sin):
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


def _gqa(rotate_values=False, tile=False, rotate_keys=True, expand=False):
    def attention(q, k, v, cos, sin):
        group = q.shape[1] // k.shape[1]
        q = _rope(q, cos, sin)
        k = _rope(k, cos, sin) if rotate_keys else k
        v = _rope(v, cos, sin) if rotate_values else v
        if tile:
            k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
        elif expand:  # transformers' repeat_kv: expand a view, then reshape
            b, n, t, d = k.shape
            k, v = (x[:, :, None].expand(b, n, group, t, d).reshape(b, n * group, t, d) for x in (k, v))
        else:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    return attention


def test_rope_gqa_reference_agrees_with_transformers() -> None:
    from transformers.models.llama import modeling_llama as llama

    q, k, v = torch.randn(2, 6, 5, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    cos, sin = nb10c.rope_cos_sin(torch.arange(5), 8, 10_000.0)
    their_q, their_k = llama.apply_rotary_pos_emb(q, k, cos[None], sin[None])
    want = F.scaled_dot_product_attention(their_q, llama.repeat_kv(their_k, 3), llama.repeat_kv(v, 3), is_causal=True)
    torch.testing.assert_close(nb10c._gqa_reference(q, k, v, cos, sin), want)


@pytest.mark.parametrize("fn", [_gqa(), _gqa(expand=True)])
def test_rope_gqa_attention_accepts_correct_answers(fn) -> None:
    assert_accepted(check_rope_gqa_attention, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (_gqa(rotate_values=True, tile=True), ["values are rotated", "and then", "repeat_interleave"]),
        (_gqa(rotate_values=True), ["values are rotated"]),
        (_gqa(tile=True), ["CONSECUTIVE query heads"]),
        (_gqa(rotate_keys=False), ["rotate q and k (not v)"]),
    ],
)
def test_rope_gqa_attention_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_rope_gqa_attention(fn, seed=1), *fragments)
