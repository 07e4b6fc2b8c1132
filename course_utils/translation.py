"""The encoder-decoder translator of notebook 10b, built from notebook 10a's blocks, as a ``transformers`` model.

Notebook 10b writes the decoder block and the model's computation itself and proves its copy equals this one.
Being a ``PreTrainedModel`` (with ``GenerationMixin``) gives it ``Trainer``, checkpoints,
``save_pretrained``/``from_pretrained``, the ``Auto*`` classes and ``generate()`` (greedy and beam search, with a
key/value cache).

- :class:`TranslationConfig`: the hyper-parameters, saved as ``config.json`` (``model_type`` "course_translation");
- :class:`TranslationEncoder`: token embedding x sqrt(d) + sinusoidal positions, then :class:`EncoderBlock` s;
- :class:`TranslationPlumbing`: what any such ``PreTrainedModel`` needs beyond its computation (weight
  initialisation, input embeddings, ``generate()`` with its arguments checked); notebook 10b's model builds on it;
- :class:`TranslationModel`: the encoder, a stack of :class:`DecoderBlock` s reading the same (shared) embedding
  table, and output logits computed with that table again (tied embeddings) unless ``tie_embeddings=False``.

Bad inputs fail with a message: an empty source (no tokens), a sequence longer than ``max_positions``, a token id
outside the vocabulary. (Tokenize with ``truncation=True, max_length=...`` to cut long texts instead.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.cache_utils import EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from course_utils.attention import padding_mask
from course_utils.batching import shift_right  # one copy: the collator and the model share it
from course_utils.transformer_blocks import DecoderBlock, EncoderBlock, sinusoidal_positions
from course_utils.validation import (
    require_bool,
    require_fraction,
    require_int,
    require_positive_int,
    require_token_tensor,
)

# transformers 5.24 renamed the key/value cache argument and output field from `past_key_values` to `cache`;
# the model takes both names, and returns the cache under the name this version's generate() reads.
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


class TranslationConfig(PreTrainedConfig):
    """Sizes of the translator; ``model_type`` lets ``AutoConfig`` find this class again from ``config.json``."""

    model_type = "course_translation"

    def __init__(
        self,
        vocab_size: int = 8000,
        d_model: int = 256,
        n_heads: int = 4,
        encoder_layers: int = 3,
        decoder_layers: int = 3,
        d_ff: int = 1024,
        dropout: float = 0.1,
        max_positions: int = 256,
        norm_first: bool = True,
        tie_embeddings: bool = True,
        pad_token_id: int = 0,
        bos_token_id: int = 1,
        eos_token_id: int = 2,
        **kwargs: Any,
    ) -> None:
        sizes = {"vocab_size": vocab_size, "d_model": d_model, "n_heads": n_heads, "encoder_layers": encoder_layers,
                 "decoder_layers": decoder_layers, "d_ff": d_ff, "max_positions": max_positions}
        vocab_size, d_model, n_heads, encoder_layers, decoder_layers, d_ff, max_positions = (
            require_positive_int(name, value) for name, value in sizes.items())
        dropout = require_fraction("dropout", dropout, allow_zero=True)
        norm_first = require_bool("norm_first", norm_first)
        tie_embeddings = require_bool("tie_embeddings", tie_embeddings)
        for name, token_id in (("pad_token_id", pad_token_id), ("bos_token_id", bos_token_id),
                               ("eos_token_id", eos_token_id)):
            require_int(name, token_id, minimum=0, maximum=vocab_size - 1, example="an id of the tokenizer")
        if d_model % n_heads or d_model % 2:
            raise ValueError(f"d_model ({d_model}) must be even and divisible by n_heads ({n_heads})")
        self.vocab_size, self.d_model, self.n_heads, self.d_ff = vocab_size, d_model, n_heads, d_ff
        self.encoder_layers, self.decoder_layers = encoder_layers, decoder_layers
        self.num_hidden_layers = decoder_layers  # the number of layers a generation cache holds
        self.dropout, self.max_positions = dropout, max_positions
        self.norm_first, self.tie_embeddings = norm_first, tie_embeddings
        kwargs.setdefault("decoder_start_token_id", bos_token_id)  # generation starts from <s>
        kwargs.update(is_encoder_decoder=True, tie_word_embeddings=False)  # config.json stores them: not twice
        # PreTrainedConfig takes any keyword at run time (strict(accept_kwargs=True)), but its dataclass
        # signature lists only the declared fields, which the special token ids are not.
        super().__init__(  # type: ignore[call-arg]
            pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs
        )


def require_token_ids(ids: torch.Tensor, config: TranslationConfig, what: str) -> None:
    """Raise a ValueError naming the problem if ``ids`` [batch, length] is empty, too long or out of the vocabulary
    (a TypeError if it is not an integer tensor)."""
    require_token_tensor(what, ids)
    if ids.shape[1] == 0:
        raise ValueError(f"{what} must be [batch, length] with length >= 1, got shape {tuple(ids.shape)} "
                         "(an empty text still has <s> and </s>: tokenize it with the tokenizer)")
    if ids.shape[1] > config.max_positions:
        raise ValueError(f"{what} has {ids.shape[1]} tokens, more than max_positions={config.max_positions}: "
                         f"tokenize with truncation=True, max_length={config.max_positions}")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= config.vocab_size:
        raise ValueError(f"{what} holds token id {low if low < 0 else high}, outside the vocabulary "
                         f"[0, {config.vocab_size}): was it made by another tokenizer?")


class TranslationEncoder(nn.Module):
    """Embedding x sqrt(d_model) + positions, the encoder blocks, a final norm (pre-norm needs one)."""

    main_input_name = "input_ids"  # what generate() feeds it

    def __init__(self, config: TranslationConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            EncoderBlock(config.d_model, config.n_heads, config.d_ff, config.dropout, config.norm_first)
            for _ in range(config.encoder_layers)
        )
        self.norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()

    def embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Token vectors scaled by sqrt(d_model) (so they are not drowned by the positions) + position codes."""
        positions = sinusoidal_positions(ids.shape[1], self.config.d_model, offset, device=ids.device)
        return self.dropout(self.embed_tokens(ids) * math.sqrt(self.config.d_model) + positions)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> BaseModelOutput:
        require_token_ids(input_ids, self.config, "input_ids")
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        if not attention_mask.any(dim=1).all():
            raise ValueError("a source row has no tokens (attention_mask all 0): nothing to attend to")
        hidden, mask = self.embed(input_ids), padding_mask(attention_mask)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return BaseModelOutput(last_hidden_state=self.norm(hidden))


class TranslationPlumbing(PreTrainedModel, GenerationMixin):
    """What makes the translator a ``transformers`` model, apart from what it computes (notebook 10b's model and
    :class:`TranslationModel` both build on it): the class attributes ``PreTrainedModel`` reads, the weight
    initialisation ``post_init()`` applies (:meth:`_init_weights`), the input embeddings, and ``generate()`` with
    its arguments checked first. A subclass sets ``config_class`` and writes ``__init__``, ``decode``, ``forward``.
    """

    config: TranslationConfig  # what config_class makes (PreTrainedModel declares the base class)
    encoder: TranslationEncoder
    config_class = TranslationConfig
    base_model_prefix = "translation"
    main_input_name = "input_ids"

    def _init_weights(self, module: nn.Module) -> None:
        """Xavier-uniform linear layers with zero biases, embeddings ~ N(0, 1/d_model) with a zero <pad> row."""
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.d_model**-0.5)
            nn.init.zeros_(module.weight[self.config.pad_token_id])
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``GenerationMixin.generate`` after checking what would otherwise fail deep inside it, or late."""
        if kwargs.get("num_beams") is not None:
            require_positive_int("num_beams", kwargs["num_beams"], example="1 (greedy search) or 4")
        new_tokens = kwargs.get("max_new_tokens")
        if new_tokens is not None:
            new_tokens = require_positive_int("max_new_tokens", new_tokens, example="50")
        if new_tokens is not None and new_tokens + 1 > self.config.max_positions:
            raise ValueError(f"max_new_tokens={new_tokens} plus the start token exceeds max_positions="
                             f"{self.config.max_positions}: ask for at most {self.config.max_positions - 1}")
        return super().generate(*args, **kwargs)


class TranslationModel(TranslationPlumbing):
    """Encoder-decoder Transformer for translation; ``labels`` give the loss, ``generate()`` translates."""

    config_class = TranslationConfig

    def __init__(self, config: TranslationConfig) -> None:
        super().__init__(config)
        self.encoder = TranslationEncoder(config)  # holds the one embedding table of both languages
        self.decoder_layers = nn.ModuleList(
            DecoderBlock(config.d_model, config.n_heads, config.d_ff, config.dropout, config.norm_first)
            for _ in range(config.decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()
        self.lm_head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        memory: torch.Tensor,
        attention_mask: torch.Tensor,
        cache: EncoderDecoderCache | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [batch, target length, vocab] and (if ``need_weights``) each layer's cross-attention weights."""
        require_token_ids(decoder_input_ids, self.config, "decoder_input_ids")
        offset = cache.get_seq_length() if cache is not None else 0  # positions continue after the cached ones
        if offset + decoder_input_ids.shape[1] > self.config.max_positions:
            raise ValueError(f"cannot decode past max_positions={self.config.max_positions}: lower max_new_tokens")
        hidden, memory_mask, weights = self.encoder.embed(decoder_input_ids, offset), padding_mask(attention_mask), []
        self_cache = cache.self_attention_cache if cache is not None else None
        cross_cache = cache.cross_attention_cache if cache is not None else None
        for i, layer in enumerate(self.decoder_layers):
            hidden = layer(hidden, memory, memory_mask, self_cache=self_cache, cross_cache=cross_cache,
                           layer_idx=i, need_weights=need_weights)
            if need_weights:
                hidden, layer_weights = hidden
                weights.append(layer_weights)
        output_weight = self.encoder.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(self.decoder_norm(hidden), output_weight), weights

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        """Loss (if ``labels``; -100 = ignored) and logits. ``generate()`` passes ``encoder_outputs`` and a cache.

        The cache arrives as ``cache`` (transformers >= 5.24) or ``past_key_values`` (earlier 5.x). Ignoring it
        would be a silent bug: generate() then feeds only the newest token, at position 0, with no history.
        """
        cache = cache if cache is not None else past_key_values
        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("give input_ids (the tokenized source) or encoder_outputs")
            encoder_outputs = self.encoder(input_ids, attention_mask)
        memory = encoder_outputs[0]
        if attention_mask is None:  # as the encoder did: every non-<pad> token of the source
            attention_mask = (input_ids != self.config.pad_token_id).long() if input_ids is not None else (
                torch.ones(memory.shape[:2], dtype=torch.long, device=memory.device))
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("give decoder_input_ids or labels (teacher forcing shifts the labels right)")
            decoder_input_ids = shift_right(labels, self.config.decoder_start_token_id, self.config.pad_token_id)
        logits, cross_attentions = self.decode(decoder_input_ids, memory, attention_mask, cache,
                                               need_weights=output_attentions)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        cache_field: dict[str, Any] = {CACHE_FIELD: cache}  # the field's name depends on the transformers version
        return Seq2SeqLMOutput(
            loss=loss, logits=logits, encoder_last_hidden_state=memory,
            cross_attentions=tuple(cross_attentions) if output_attentions else None, **cache_field,
        )


def register_translation_model() -> None:
    """Let ``AutoConfig``/``AutoModelForSeq2SeqLM`` load a saved translator (``model_type`` course_translation)."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    AutoConfig.register(TranslationConfig.model_type, TranslationConfig, exist_ok=True)
    AutoModelForSeq2SeqLM.register(TranslationConfig, TranslationModel, exist_ok=True)
