"""Attention, masks, multi-head attention, positions and blocks against PyTorch's own, to float32 tolerance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache

from course_utils.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from course_utils.transformer_blocks import (
    DecoderBlock,
    EncoderBlock,
    LearnedPositions,
    load_torch_attention,
    load_torch_layer,
    sinusoidal_positions,
)

ATOL = 1e-5  # float32: sums of a few hundred products agree to ~1e-6


def close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> bool:
    return torch.allclose(a, b, atol=atol, rtol=1e-4)


@pytest.fixture
def qkv() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shapes = [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)]  # 5 queries, 7 keys, values of size 4
    return tuple(torch.randn(*shape, generator=g) for shape in shapes)


def test_formula_equals_pytorch_without_and_with_masks(qkv) -> None:
    q, k, v = qkv
    out, weights = scaled_dot_product_attention(q, k, v)
    assert close(out, F.scaled_dot_product_attention(q, k, v))
    assert close(weights.sum(-1), torch.ones(2, 3, 5))
    keep = padding_mask(torch.tensor([[1] * 7, [1] * 4 + [0] * 3]))
    out, weights = scaled_dot_product_attention(q, k, v, keep)
    assert close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep))
    assert weights[1, :, :, 4:].abs().max() == 0, "padded keys got weight"
    additive = torch.randn(5, 7)
    assert close(scaled_dot_product_attention(q, k, v, additive)[0], F.scaled_dot_product_attention(q, k, v, additive))


def test_causal_mask_matches_is_causal_and_shifts_with_a_cache() -> None:
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 6, 8, generator=g) for _ in range(3))
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))
    assert causal_mask(2, 5).tolist() == [[True, True, True, True, False], [True] * 5]
    with pytest.raises(ValueError, match="queries <= keys"):
        causal_mask(3, 2)


def test_bad_shapes_name_the_problem(qkv) -> None:
    q, k, v = qkv
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(q[..., :4], k, v)
    with pytest.raises(ValueError, match="same number of positions"):
        scaled_dot_product_attention(q, k, v[..., :3, :])
    with pytest.raises(ValueError, match="batch, length"):
        padding_mask(torch.ones(3))
    with pytest.raises(ValueError, match="multiple of n_heads"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="x must be"):
        MultiHeadAttention(8, 2)(torch.zeros(2, 3, 6))


@pytest.mark.parametrize("use_sdpa", [False, True])
def test_multi_head_attention_equals_nn_multiheadattention(use_sdpa: bool) -> None:
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ours = load_torch_attention(MultiHeadAttention(16, 4, use_sdpa=use_sdpa), theirs).eval()
    x, context = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    tokens = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    # self-attention, causal: PyTorch's masks mean "True = blocked", ours "True = allowed"
    expected, expected_w = theirs(x, x, x, attn_mask=~causal_mask(5), average_attn_weights=False)
    got, got_w = ours(x, is_causal=True, need_weights=not use_sdpa)
    assert close(got, expected)
    if not use_sdpa:
        assert close(got_w, expected_w)
    # cross-attention with padded keys
    expected, _ = theirs(x, context, context, key_padding_mask=tokens == 0)
    assert close(ours(x, context, mask=padding_mask(tokens))[0], expected)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_blocks_equal_pytorch_layers(norm_first: bool, activation: str) -> None:
    torch.manual_seed(0)
    kwargs = {"dim_feedforward": 32, "batch_first": True, "norm_first": norm_first, "activation": activation}
    enc_theirs = nn.TransformerEncoderLayer(16, 4, **kwargs).eval()
    dec_theirs = nn.TransformerDecoderLayer(16, 4, **kwargs).eval()
    enc = load_torch_layer(EncoderBlock(16, 4, 32, norm_first=norm_first, activation=activation), enc_theirs).eval()
    dec = load_torch_layer(DecoderBlock(16, 4, 32, norm_first=norm_first, activation=activation), dec_theirs).eval()
    src, tgt = torch.randn(2, 7, 16), torch.randn(2, 5, 16)
    tokens = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    with torch.no_grad():
        memory = enc(src, padding_mask(tokens))
        assert close(memory, enc_theirs(src, src_key_padding_mask=tokens == 0))
        expected = dec_theirs(tgt, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=tokens == 0)
        assert close(dec(tgt, memory, memory_mask=padding_mask(tokens)), expected)


def test_load_torch_layer_refuses_mismatches() -> None:
    with pytest.raises(TypeError, match="DecoderBlock"):
        load_torch_layer(EncoderBlock(16, 4, 32), nn.TransformerDecoderLayer(16, 4, 32, batch_first=True))
    with pytest.raises(ValueError, match="norm_first"):
        post_norm = EncoderBlock(16, 4, 32, norm_first=False)
        load_torch_layer(post_norm, nn.TransformerEncoderLayer(16, 4, 32, norm_first=True))
    with pytest.raises(ValueError, match="differ"):
        load_torch_attention(MultiHeadAttention(16, 2), nn.MultiheadAttention(16, 4))


@pytest.mark.parametrize("cache_class", [KVCache, DynamicCache])
def test_kv_cache_one_token_at_a_time_equals_the_full_pass(cache_class) -> None:
    torch.manual_seed(0)
    blocks = [DecoderBlock(16, 4, 32).eval() for _ in range(2)]
    tgt, memory = torch.randn(3, 6, 16), torch.randn(3, 4, 16)
    keep = padding_mask(torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]))
    with torch.no_grad():
        full = tgt
        for i, block in enumerate(blocks):
            full = block(full, memory, keep, layer_idx=i)
        self_cache, cross_cache, steps = cache_class(), cache_class(), []
        for t in range(6):
            h = tgt[:, t : t + 1]
            for i, block in enumerate(blocks):
                h = block(h, memory, keep, self_cache=self_cache, cross_cache=cross_cache, layer_idx=i)
            steps.append(h)
    assert close(torch.cat(steps, dim=1), full)
    assert self_cache.get_seq_length() == 6 and cross_cache.get_seq_length() == 4  # memory projected once


def test_causal_encoder_block_with_a_cache_is_a_gpt_block() -> None:
    torch.manual_seed(0)
    block, x, cache = EncoderBlock(16, 4, 32).eval(), torch.randn(2, 5, 16), KVCache()
    with torch.no_grad():
        full = block(x, is_causal=True)
        assert close(full, block(x, mask=causal_mask(5)))
        prefix = block(x[:, :3], is_causal=True, cache=cache)  # a prompt of 3 positions, then one at a time
        steps = [block(x[:, t : t + 1], is_causal=True, cache=cache) for t in (3, 4)]
    assert close(torch.cat([prefix, *steps], dim=1), full)


def test_kv_cache_reorders_rows_and_checks_layer_order() -> None:
    cache = KVCache()
    keys = torch.arange(3.0)[:, None, None, None].expand(3, 1, 2, 4)
    cache.update(keys, keys, 0)
    cache.reorder_cache(torch.tensor([2, 2, 0]))
    assert cache.layers[0].keys[:, 0, 0, 0].tolist() == [2.0, 2.0, 0.0]
    with pytest.raises(IndexError, match="in order"):
        cache.update(keys, keys, 2)


def test_positions() -> None:
    codes = sinusoidal_positions(50, 16)
    assert codes.shape == (50, 16)
    assert torch.equal(codes[0, 0::2], torch.zeros(8)) and torch.equal(codes[0, 1::2], torch.ones(8))
    assert close(sinusoidal_positions(10, 16, offset=40), codes[40:])
    assert close(codes[7, 0], torch.tensor(7.0).sin())
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(5, 7)
    learned = LearnedPositions(8, 4)
    assert learned(3, offset=5).shape == (3, 4)
    with pytest.raises(ValueError, match="max_positions"):
        learned(4, offset=5)
