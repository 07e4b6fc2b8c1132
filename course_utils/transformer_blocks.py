"""Positional encodings and the residual blocks of a Transformer, as notebook 10a builds them.

- :func:`sinusoidal_positions` and :class:`LearnedPositions`: attention alone ignores word order, so each
  position gets a vector added to its token embedding (computed with sines and cosines, or learned);
- :class:`FeedForward`: the position-wise two-layer network;
- :class:`EncoderBlock` (self-attention + feed-forward) and :class:`DecoderBlock` (causal self-attention +
  cross-attention + feed-forward), each sub-layer wrapped in a residual connection with layer norm, either
  **post-norm** (``norm(x + f(x))``, the 2017 paper) or **pre-norm** (``x + f(norm(x))``, trains more stably);
- :func:`load_torch_attention` / :func:`load_torch_layer`: copy the weights of ``nn.MultiheadAttention`` /
  ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` into these modules, which then compute the
  same function (notebook 10a and ``tests/test_attention.py`` check it to float32 tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import KVCache, MultiHeadAttention
from course_utils.validation import require_choice, require_fraction, require_int, require_positive_int

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def sinusoidal_positions(
    length: int, d_model: int, offset: int = 0, device: torch.device | str | None = None
) -> torch.Tensor:
    """[length, d_model] codes of positions offset .. offset+length-1: sin on even, cos on odd dimensions.

    Dimension pair 2i oscillates with wavelength 2*pi*10000^(2i/d_model): fast in the first dimensions, slow
    in the last, so every position gets a distinct code and nearby positions get similar ones.
    """
    d_model = require_positive_int("d_model", d_model, example="64")
    if d_model % 2:
        raise ValueError(f"d_model must be a positive even number (sin and cos come in pairs), got {d_model}")
    length = require_int("length", length, minimum=0, example="the sequence length")
    offset = require_int("offset", offset, minimum=0, example="0 (or the number of cached positions)")
    position = torch.arange(offset, offset + length, device=device, dtype=torch.float32)[:, None]
    even = torch.arange(0, d_model, 2, device=device, dtype=torch.float32)
    frequency = torch.exp(even * (-math.log(10000.0) / d_model))  # 1 / 10000^(2i/d_model)
    codes = torch.zeros(length, d_model, device=device)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)
    return codes


class LearnedPositions(nn.Module):
    """One trained vector per position, up to ``max_positions`` (the model cannot read longer sequences)."""

    def __init__(self, max_positions: int, d_model: int) -> None:
        super().__init__()
        self.max_positions = require_positive_int("max_positions", max_positions, example="512")
        self.embedding = nn.Embedding(self.max_positions, require_positive_int("d_model", d_model, example="64"))

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        """[length, d_model] vectors of positions offset .. offset+length-1."""
        length = require_int("length", length, minimum=0, example="the sequence length")
        offset = require_int("offset", offset, minimum=0, example="0 (or the number of cached positions)")
        if offset + length > self.max_positions:
            raise ValueError(
                f"positions up to {offset + length} requested but only {self.max_positions} were learned: "
                "truncate the input or build the model with a larger max_positions"
            )
        return self.embedding(torch.arange(offset, offset + length, device=self.embedding.weight.device))


class FeedForward(nn.Module):
    """``linear2(dropout(activation(linear1(x))))``, applied to each position separately."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu") -> None:
        super().__init__()
        require_choice("activation", activation, ACTIVATIONS)
        d_model = require_positive_int("d_model", d_model, example="64")
        d_ff = require_positive_int("d_ff", d_ff, example="4 * d_model")
        dropout = require_fraction("dropout", dropout, allow_zero=True)
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout, self.activation = nn.Dropout(dropout), ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class EncoderBlock(nn.Module):
    """Self-attention then feed-forward, each with a residual connection and layer norm.

    An encoder layer as is; with ``is_causal=True`` (and a cache for generation) the block of a decoder-only
    language model (GPT), which has no encoder to cross-attend to.
    """

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout, self.norm_first = nn.Dropout(dropout), norm_first

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        layer_idx: int = 0,
    ) -> torch.Tensor:
        """x [batch, length, d_model]; mask: boolean, True = may attend (e.g. ``padding_mask``)."""

        def attention(h: torch.Tensor) -> torch.Tensor:
            return self.self_attn(h, mask=mask, is_causal=is_causal, cache=cache, layer_idx=layer_idx)[0]

        if self.norm_first:  # x + f(norm(x)): the residual path stays an identity from input to output
            x = x + self.dropout(attention(self.norm1(x)))
            return x + self.dropout(self.ffn(self.norm2(x)))
        x = self.norm1(x + self.dropout(attention(x)))  # norm(x + f(x)), the 2017 paper
        return self.norm2(x + self.dropout(self.ffn(x)))


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder output (``memory``), feed-forward."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, norm_first: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout, self.norm_first = nn.Dropout(dropout), norm_first

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        self_mask: torch.Tensor | None = None,
        self_cache: KVCache | None = None,
        cross_cache: KVCache | None = None,
        layer_idx: int = 0,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x [batch, target length, d_model], memory [batch, source length, d_model].

        ``memory_mask`` hides padded source positions; the self-attention is always causal (``self_mask`` can
        hide padded target positions too). The caches let generation feed one new position at a time.
        ``need_weights=True`` returns (output, cross-attention weights [batch, heads, target, source]).
        """
        cross_weights = []
        def self_attention(h: torch.Tensor) -> torch.Tensor:
            return self.self_attn(h, mask=self_mask, is_causal=True, cache=self_cache, layer_idx=layer_idx)[0]

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            out, weights = self.cross_attn(
                h, memory, mask=memory_mask, cache=cross_cache, layer_idx=layer_idx, need_weights=need_weights
            )
            cross_weights.append(weights)
            return out

        if self.norm_first:
            x = x + self.dropout(self_attention(self.norm1(x)))
            x = x + self.dropout(cross_attention(self.norm2(x)))
            x = x + self.dropout(self.ffn(self.norm3(x)))
        else:
            x = self.norm1(x + self.dropout(self_attention(x)))
            x = self.norm2(x + self.dropout(cross_attention(x)))
            x = self.norm3(x + self.dropout(self.ffn(x)))
        return (x, cross_weights[0]) if need_weights else x


@torch.no_grad()
def load_torch_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> MultiHeadAttention:
    """Copy ``nn.MultiheadAttention`` weights into ``ours`` (its packed in_proj holds W_q, W_k, W_v stacked)."""
    if ours.d_model != theirs.embed_dim or ours.n_heads != theirs.num_heads or theirs.in_proj_weight is None:
        raise ValueError("the two attention modules differ in d_model or heads (or theirs has separate k/v dims)")
    for proj, weight in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
        proj.weight.copy_(weight)
    if theirs.in_proj_bias is not None:
        for proj, bias in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
            proj.bias.copy_(bias)
    ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
    return ours


@torch.no_grad()
def load_torch_layer(
    ours: EncoderBlock | DecoderBlock, theirs: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer
) -> EncoderBlock | DecoderBlock:
    """Copy a PyTorch encoder/decoder layer's weights into the matching block (same sizes, same norm_first)."""
    if isinstance(ours, DecoderBlock) != isinstance(theirs, nn.TransformerDecoderLayer):
        raise TypeError("copy an nn.TransformerEncoderLayer into an EncoderBlock, a DecoderLayer into a DecoderBlock")
    if ours.norm_first != theirs.norm_first:
        raise ValueError(f"norm_first differs: ours {ours.norm_first}, theirs {theirs.norm_first}")
    load_torch_attention(ours.self_attn, theirs.self_attn)
    if isinstance(ours, DecoderBlock) and isinstance(theirs, nn.TransformerDecoderLayer):  # both or neither
        load_torch_attention(ours.cross_attn, theirs.multihead_attn)
        ours.norm3.load_state_dict(theirs.norm3.state_dict())
    ours.ffn.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.linear2.load_state_dict(theirs.linear2.state_dict())
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm2.load_state_dict(theirs.norm2.state_dict())
    return ours
