"""Helpers shared by the checker modules."""

from __future__ import annotations

import random

import torch


def random_sources(seed: int | None) -> tuple[random.Random, torch.Generator]:
    """A Python and a torch random generator, both from ``seed`` (None: fresh cases on every call)."""
    rng = random.Random(seed)
    return rng, torch.Generator().manual_seed(rng.randrange(2**63))

