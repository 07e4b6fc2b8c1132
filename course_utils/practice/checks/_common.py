"""Helpers shared by the checker modules."""

from __future__ import annotations

import random

import torch

from course_utils.validation import require_int


def random_source(seed: int | None) -> random.Random:
    """A Python random generator from ``seed`` (None: fresh cases on every call).

    ``seed`` must be None or an int (a numpy int too): ``random.Random`` would also take a string or a float
    and give cases no other seed reproduces.
    """
    if seed is not None:
        seed = require_int("seed", seed, example="0 (or None for fresh cases)")
    return random.Random(seed)


def random_sources(seed: int | None) -> tuple[random.Random, torch.Generator]:
    """A Python and a torch random generator, both from ``seed`` (None: fresh cases on every call)."""
    rng = random_source(seed)
    return rng, torch.Generator().manual_seed(rng.randrange(2**63))
