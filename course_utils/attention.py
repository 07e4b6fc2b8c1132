"""Attention written from its formula, as notebook 10a teaches it, reused by notebook 10b's translator.

Notebook 10a writes each piece in full, checks it against PyTorch (``F.scaled_dot_product_attention``,
``nn.MultiheadAttention``) and then proves its code equals this copy; later notebooks import it from here.

- :func:`scaled_dot_product_attention`: ``softmax(Q K^T / sqrt(d_k) + mask) V``, returning the weights too;
- :func:`padding_mask`, :func:`causal_mask`: boolean masks, **True where attending is allowed** (the
  convention of ``F.scaled_dot_product_attention``; ``nn.MultiheadAttention``'s masks mean the opposite);
- :class:`MultiHeadAttention`: query/key/value projections, the head split and merge, an output projection,
  and an optional key/value cache for generation;
- :class:`KVCache`: the smallest cache with the interface of ``transformers``' ``DynamicCache``
  (``update``, ``get_seq_length``, ``layers[i].keys``/``.values``, ``reorder_cache``), so the same attention
  code runs with either.

Masks are broadcast to ``[batch, heads, queries, keys]``: a padding mask ``[batch, 1, 1, keys]`` hides padded
keys from every query, a causal mask ``[queries, keys]`` hides later positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.validation import (
    require_bool_mask,
    require_fraction,
    require_int,
    require_positive_int,
    require_tensor,
)


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d_k) + mask) V`` for tensors [..., queries, d_k], [..., keys, d_k], [..., keys, d_v].

    ``mask`` is boolean (True = may attend; False scores become -inf before the softmax) or a float tensor
    added to the scores; it must broadcast to [..., queries, keys]. An integer 0/1 mask (a tokenizer's
    ``attention_mask``) is refused: added to the scores it would hide nothing, so pass ``mask.bool()``.
    Returns the output [..., queries, d_v] and the attention weights [..., queries, keys] (each row sums to 1).
    A query whose keys are all masked has no distribution to take: its weights and output are NaN, as in
    PyTorch's own implementation.
    """
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        require_tensor(name, tensor, shape_hint="[..., positions, features]")
        if tensor.dim() < 2:
            raise ValueError(f"{name} must be [..., positions, features] (at least 2 dimensions), got shape "
                             f"{tuple(tensor.shape)}: add the positions dimension with .unsqueeze(-2)")
    if mask is not None:
        require_bool_mask("mask", mask, allow_float=True)
    dropout_p = require_fraction("dropout_p", dropout_p, allow_zero=True)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query and key need the same last dimension d_k, got {query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value need the same number of positions, got {key.shape[-2]} and {value.shape[-2]}")
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # [..., queries, keys]
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0 and training:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ value, weights


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Boolean key mask [batch, 1, 1, keys] from a tokenizer's ``attention_mask`` [batch, keys] (1 = token, 0 = pad).

    A boolean mask is taken as it is; a numeric one must hold only 0 and 1 (token ids are refused).
    """
    require_tensor("attention_mask", attention_mask, dims=2, shape_hint="[batch, length] (1 = token, 0 = pad)")
    if attention_mask.dtype != torch.bool and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError(f"attention_mask must hold only 1 (token) and 0 (pad), got values "
                         f"{attention_mask.unique().tolist()[:6]}: token ids? pass the tokenizer's attention_mask")
    return attention_mask.bool()[:, None, None, :]


def causal_mask(queries: int, keys: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean [queries, keys] mask: query i may attend to keys 0 .. i + (keys - queries).

    With ``keys == queries`` (training) this is the lower triangle. With a cache holding earlier positions,
    the queries are the *last* ``queries`` positions of ``keys``, so the diagonal shifts right.
    """
    queries = require_positive_int("queries", queries, example="the sequence length")
    keys = queries if keys is None else require_positive_int("keys", keys, example="the number of positions")
    if keys < queries:
        raise ValueError(f"need 1 <= queries <= keys, got queries={queries}, keys={keys}")
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(diagonal=keys - queries)


@dataclass
class CachedLayer:
    """Keys and values [batch, heads, positions, head_dim] of one attention layer."""

    keys: torch.Tensor
    values: torch.Tensor


class KVCache:
    """Keys and values of earlier positions, per layer, so generation computes each position once.

    Same interface as ``transformers.DynamicCache`` for what :class:`MultiHeadAttention` uses.
    """

    def __init__(self) -> None:
        self.layers: list[CachedLayer] = []

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' ``keys``/``values`` to layer ``layer_idx``; return all positions so far."""
        layer_idx = require_int("layer_idx", layer_idx, minimum=0)
        if layer_idx > len(self.layers):
            raise IndexError(f"layer {layer_idx} updated before layer {len(self.layers)}: update layers in order")
        if layer_idx == len(self.layers):
            self.layers.append(CachedLayer(keys, values))
        else:
            layer = self.layers[layer_idx]
            layer.keys = torch.cat([layer.keys, keys], dim=-2)
            layer.values = torch.cat([layer.values, values], dim=-2)
        return self.layers[layer_idx].keys, self.layers[layer_idx].values

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of cached positions in layer ``layer_idx`` (0 when empty)."""
        return self.layers[layer_idx].keys.shape[-2] if layer_idx < len(self.layers) else 0

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Keep the batch rows ``beam_idx`` (beam search: each surviving hypothesis takes its parent's cache)."""
        for layer in self.layers:
            layer.keys = layer.keys.index_select(0, beam_idx.to(layer.keys.device))
            layer.values = layer.values.index_select(0, beam_idx.to(layer.values.device))


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project, split into heads, attend in each head, merge, project back.

    ``forward(x)`` is self-attention; ``forward(x, context)`` is cross-attention (queries from ``x``,
    keys and values from ``context``). ``use_sdpa=True`` computes the same result with PyTorch's fused
    ``F.scaled_dot_product_attention`` (faster; no weights returned), ``False`` with the formula above.
    """

    def __init__(
        self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True, use_sdpa: bool = True
    ) -> None:
        super().__init__()
        d_model = require_positive_int("d_model", d_model, example="64")
        n_heads = require_positive_int("n_heads", n_heads, example="4")
        dropout = require_fraction("dropout", dropout, allow_zero=True)
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a positive multiple of n_heads ({n_heads})")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout, self.use_sdpa = dropout, use_sdpa
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, length, d_model] -> [batch, heads, length, head_dim]: each head sees its own slice."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, heads, length, head_dim] -> [batch, length, d_model]: the heads side by side again."""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.d_model)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        layer_idx: int = 0,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` [batch, queries, d_model] to ``context`` (default: ``x``); return (output, weights).

        ``mask``: boolean, True = may attend, broadcastable to [batch, heads, queries, keys].
        ``is_causal``: also hide later positions (with a cache, the queries are the newest positions).
        ``cache``: self-attention appends the new keys/values and attends to all of them; cross-attention
        projects ``context`` once, stores it, and reuses it on later calls. ``weights`` [batch, heads,
        queries, keys] are returned when ``need_weights`` (else None).
        """
        require_tensor("x", x, shape_hint=f"[batch, length, {self.d_model}]")
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be [batch, length, {self.d_model}], got shape {tuple(x.shape)}")
        if mask is not None:
            require_bool_mask("mask", mask, allow_float=True)
        query = self.split_heads(self.q_proj(x))
        if context is None:  # self-attention: new positions' keys/values, after the cached ones
            key, value = self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))
            if cache is not None:
                key, value = cache.update(key, value, layer_idx)
        elif cache is not None and cache.get_seq_length(layer_idx) > 0:  # cross-attention, already projected
            key, value = cache.layers[layer_idx].keys, cache.layers[layer_idx].values
        else:
            key, value = self.split_heads(self.k_proj(context)), self.split_heads(self.v_proj(context))
            if cache is not None:
                cache.update(key, value, layer_idx)
        if is_causal:
            causal = causal_mask(query.shape[-2], key.shape[-2], device=x.device)
            mask = causal if mask is None else mask & causal
        dropout_p = self.dropout if self.training else 0.0
        if self.use_sdpa and not need_weights:
            output = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
            weights = None
        else:
            output, weights = scaled_dot_product_attention(query, key, value, mask, dropout_p, self.training)
        return self.out_proj(self.merge_heads(output)), weights
