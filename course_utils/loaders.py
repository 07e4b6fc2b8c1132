"""``Dataset`` classes and collate functions shared by notebooks.

They live in a module, not in the notebook, because DataLoader workers started with the ``spawn`` method
(macOS, Windows, some Colab set-ups) must import them by name: a class defined in a notebook cannot be
pickled into a worker. Notebook 03b explains this and builds them step by step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from course_utils.validation import describe, require_int, require_tensor


class ImageDataset(Dataset):
    """Images (tensor [N, H, W] or [N, C, H, W]) with labels, each passed through ``transform``.

    Returns ``(image, label)`` with the image as a [C, H, W] tensor (after the transform) and the label as an
    int. Without a transform, uint8 images (0-255) are scaled to float32 in [0, 1], and float images are taken
    as already scaled (only made float32): dividing [0, 1] images by 255 again would leave them nearly black.
    Other dtypes (int64 pixels ...) are refused with the fix: ``.to(torch.uint8)`` or ``.float() / 255``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None) -> None:
        require_tensor("images", images, shape_hint="[N, H, W] or [N, C, H, W]")
        if not isinstance(labels, torch.Tensor):
            labels = torch.as_tensor(labels)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: they must pair up one to one")
        if images.dim() not in (3, 4):
            raise ValueError(f"images must be [N, H, W] or [N, C, H, W], got shape {tuple(images.shape)}")
        if transform is None and images.dtype != torch.uint8 and not images.is_floating_point():
            raise TypeError(f"images must be uint8 (0-255) or float (already scaled), got {describe(images)}: "
                            "convert them with .to(torch.uint8) if they hold 0-255, or pass a transform")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a function (or None), got {describe(transform)}")
        self.images = images if images.dim() == 4 else images.unsqueeze(1)
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        else:
            image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        return image, int(self.labels[index])


class SequenceDataset(Dataset):
    """Variable-length sequences of token ids with a label each: ``(tensor of ids, label)``."""

    def __init__(self, sequences: Sequence[Sequence[int]], labels: Sequence[int]) -> None:
        if len(sequences) != len(labels):
            raise ValueError(f"{len(sequences)} sequences but {len(labels)} labels")
        empty = [i for i, s in enumerate(sequences) if len(s) == 0]
        if empty:
            raise ValueError(f"sequences must not be empty (index {empty[0]}); packing needs length >= 1")
        self.sequences = [torch.as_tensor(s, dtype=torch.long) for s in sequences]
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], int(self.labels[index])


class PadCollate:
    """Collate ``(sequence, label)`` pairs into ``(padded [B, T], lengths [B], labels [B])``.

    A class rather than a closure so DataLoader workers can pickle it. ``pad_id`` fills the tail of
    shorter sequences; ``lengths`` lets ``pack_padded_sequence`` skip the padding.
    """

    def __init__(self, pad_id: int = 0) -> None:
        self.pad_id = require_int("pad_id", pad_id, minimum=0, example="0 (the vocabulary's padding id)")

    def __call__(self, batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        sequences, labels = zip(*batch)
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=self.pad_id)
        return padded, lengths, torch.as_tensor(labels, dtype=torch.long)
