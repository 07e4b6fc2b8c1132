"""Small helpers every dataset loader shares: a clear error for a missing package, and deterministic splits."""

from __future__ import annotations

import importlib.util

import numpy as np

from course_utils.environment import check_seed
from course_utils.errors import MissingDependencyError


def require(module: str, pip_name: str, no_deps: bool = False) -> None:
    """Raise :class:`MissingDependencyError` with the exact pip command when ``module`` is not installed."""
    if importlib.util.find_spec(module) is None:
        flag = " --no-deps" if no_deps else ""
        raise MissingDependencyError(f"the package {pip_name}", f"pip install{flag} {pip_name}")


def check_fraction(name: str, value: float) -> float:
    """Return ``value`` if it lies strictly between 0 and 1, else raise a ValueError naming ``name``."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    return value


def split_indices(n: int, seed: int, *fractions: float) -> list[np.ndarray]:
    """Shuffle range(n) with ``seed`` and cut it: the last parts take ``fractions``, the first the rest."""
    order = np.random.default_rng(check_seed(seed)).permutation(n)
    sizes = [round(n * f) for f in fractions]
    if any(s == 0 for s in sizes) or sum(sizes) >= n:
        raise ValueError(f"cannot split {n} items into fractions {fractions}: a part would be empty")
    cuts = np.cumsum([n - sum(sizes), *sizes[:-1]])
    return np.split(order, cuts)
