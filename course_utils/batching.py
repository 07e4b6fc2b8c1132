"""Token-budget batching for sequence-to-sequence training (notebook 10b).

Sentences differ in length; a batch is padded to its longest member, so a batch of random sentences spends much of
its compute on padding, and a fixed number of sentences per batch makes long batches slow and short ones wasteful.
:class:`TokenBudgetBatchSampler` sorts examples by length and cuts the sorted list into batches holding at most
``max_tokens`` padded tokens each: many short sentences or a few long ones, every step about the same work.
:class:`Seq2SeqCollator` pads pre-tokenized pairs into the tensors the model reads, and :class:`TokenBudgetTrainer`
is a ``Trainer`` whose training DataLoader uses the sampler.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from transformers import Trainer

from course_utils.validation import require_bool, require_int, require_positive_int, require_seed, require_token_tensor


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Batches of indices of similar length, each costing at most ``max_tokens`` (= size x longest length).

    The batches are cut once (sorted by length, ties broken at random with ``seed``), so every epoch has the same
    number of batches; each epoch visits them in a new random order (``set_epoch``, called by ``Trainer``), which
    keeps a resumed run on exactly the batches the interrupted one would have seen. An example longer than
    ``max_tokens`` gets a batch of its own.
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, shuffle: bool = True, seed: int = 0) -> None:
        max_tokens = require_positive_int("max_tokens", max_tokens, example="4096")
        shuffle = require_bool("shuffle", shuffle)
        seed = require_seed("seed", seed)
        raw = np.asarray(lengths)
        whole = raw.dtype.kind in "iu" or raw.dtype.kind == "f" and bool(np.all(np.isfinite(raw) & (raw % 1 == 0)))
        if raw.ndim != 1 or len(raw) == 0 or not whole or (raw < 1).any():
            raise ValueError("lengths must be a non-empty list of positive token counts (whole numbers), one per "
                             f"example, such as [12, 7, 30]; got {np.array2string(raw.ravel()[:6], separator=', ')}"
                             f"{' ...' if raw.size > 6 else ''} (dtype {raw.dtype}, shape {raw.shape})")
        counts = raw.astype(np.int64)
        self.max_tokens, self.shuffle, self.seed, self.epoch = max_tokens, shuffle, seed, 0
        rng = np.random.default_rng(seed)
        order = np.lexsort((rng.random(len(counts)), counts))  # by length, random among equal lengths
        self.batches: list[list[int]] = []
        batch: list[int] = []
        for index in order.tolist():
            if batch and (len(batch) + 1) * counts[index] > max_tokens:  # sorted: this one is the longest yet
                self.batches.append(batch)
                batch = []
            batch.append(index)
        self.batches.append(batch)

    def set_epoch(self, epoch: int) -> None:
        """Choose the batch order of ``epoch`` (the same epoch always gives the same order)."""
        self.epoch = require_int("epoch", epoch, minimum=0)

    def __iter__(self) -> Iterator[list[int]]:
        if not self.shuffle:
            yield from self.batches
            return
        for i in np.random.default_rng([self.seed, self.epoch]).permutation(len(self.batches)):
            yield self.batches[i]

    def __len__(self) -> int:
        return len(self.batches)


def shift_right(labels: torch.Tensor, start: int, pad: int) -> torch.Tensor:
    """Decoder inputs from labels (teacher forcing): [y1 y2 ... </s>] -> [<s> y1 y2 ...], and -100 -> pad."""
    require_token_tensor("labels", labels, what="target token ids (-100 = ignored)")
    start, pad = require_int("start", start, minimum=0), require_int("pad", pad, minimum=0)
    shifted = torch.full_like(labels, pad)
    shifted[:, 0] = start
    shifted[:, 1:] = labels[:, :-1].masked_fill(labels[:, :-1] == -100, pad)
    return shifted


class Seq2SeqCollator:
    """Pad rows {"input_ids": [...], "labels": [...]} into input_ids, attention_mask, decoder_input_ids, labels.

    Sources are padded with ``pad_id`` (attention_mask 0 there); labels with -100, which the loss ignores. The
    decoder reads the labels shifted right behind ``start_id`` (teacher forcing: ``<s> y1 y2`` predicts
    ``y1 y2 </s>``), padded with ``pad_id``.
    """

    def __init__(self, pad_id: int, start_id: int) -> None:
        self.pad_id = require_int("pad_id", pad_id, minimum=0, example="tokenizer.pad_token_id")
        self.start_id = require_int("start_id", start_id, minimum=0, example="tokenizer.bos_token_id")

    @staticmethod
    def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
        out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        return out

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        lacking = next((r for r in rows if not isinstance(r, Mapping) or not {"input_ids", "labels"} <= r.keys()), None)
        if lacking is not None:
            keys = sorted(lacking) if isinstance(lacking, Mapping) else type(lacking).__name__
            raise ValueError(f"each row needs 'input_ids' (source) and 'labels' (target token ids), got {keys}: "
                             "tokenize the target with text_target=... (or rename its column to 'labels')")
        if any(len(r["input_ids"]) == 0 or len(r["labels"]) == 0 for r in rows):
            raise ValueError("a row has no source or no label tokens: tokenize with the tokenizer (it adds <s>, </s>)")
        input_ids = self._pad([r["input_ids"] for r in rows], self.pad_id)
        labels = self._pad([r["labels"] for r in rows], -100)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != self.pad_id).long(),
            "decoder_input_ids": shift_right(labels, self.start_id, self.pad_id),
            "labels": labels,
        }


class TokenBudgetTrainer(Trainer):
    """``Trainer`` whose training batches come from a :class:`TokenBudgetBatchSampler` over ``length_column``.

    ``max_tokens`` replaces ``per_device_train_batch_size``; everything else (optimizer, schedule, checkpoints,
    resume) is the usual ``Trainer``.
    """

    def __init__(self, *args: Any, max_tokens: int, length_column: str = "length", **kwargs: Any) -> None:
        max_tokens = require_positive_int("max_tokens", max_tokens, example="4096")  # before the Trainer is built
        super().__init__(*args, **kwargs)
        self.max_tokens, self.length_column = max_tokens, length_column

    def get_train_dataloader(self) -> DataLoader:
        from datasets import Dataset as ColumnDataset  # the sampler reads a named column: a datasets.Dataset

        dataset = self.train_dataset
        if not isinstance(dataset, ColumnDataset) or self.length_column not in dataset.column_names:
            raise ValueError(f"the training dataset needs a {self.length_column!r} column (tokens per example)")
        sampler = TokenBudgetBatchSampler(dataset[self.length_column], self.max_tokens, seed=self.args.seed)
        loader = DataLoader(
            dataset.remove_columns([c for c in dataset.column_names if c not in ("input_ids", "labels")]),
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)
