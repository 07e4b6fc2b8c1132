"""Deterministic splits every dataset loader shares (``split_indices``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.validation import require_fractions_leave_room, require_int, require_seed


def split_indices(n: int, seed: int, *fractions: float) -> list[np.ndarray]:
    """Shuffle range(n) with ``seed`` and cut it: the last parts take ``fractions``, the first the rest.

    The parts are disjoint, cover range(n) and depend only on (n, seed, fractions). Each fraction must lie in
    (0, 1), their sum must leave a first (training) part, and every part must get at least one item.
    """
    n = require_int("n", n, minimum=0)
    seed = require_seed("seed", seed)
    if not fractions:
        raise TypeError("split_indices needs at least one fraction to hold out, e.g. split_indices(n, seed, 0.2)")
    names = [f"fractions[{i}]" for i in range(len(fractions))]
    values = require_fractions_leave_room(dict(zip(names, fractions)))
    sizes = [round(n * f) for f in values]
    if any(s == 0 for s in sizes) or sum(sizes) >= n:
        raise ValueError(f"cannot split {n} items into fractions {tuple(values)}: a part would be empty; "
                         "use more items or larger fractions")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([n - sum(sizes), *sizes[:-1]])
    return np.split(order, cuts)


def train_validation_test(full: Any, seed: int, val_fraction: float, test_fraction: float) -> Any:
    """A ``datasets.Dataset`` cut by :func:`split_indices` into the ``DatasetDict`` every course dataset returns
    (train / validation / test). Surnames are split per language instead (``surnames.stratified_split``): some
    languages have a few dozen names, and a plain shuffle could leave one out of a split."""
    import datasets

    train, val, test = split_indices(len(full), seed, val_fraction, test_fraction)
    parts = {"train": full.select(train), "validation": full.select(val), "test": full.select(test)}
    return datasets.DatasetDict(parts)
