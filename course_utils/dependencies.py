"""Is a package installed? The one place that asks, and the one error that says how to install it.

``require_package`` finds a module without importing it and returns its folder (the packaged models and
corpora live there); when it is missing it raises :class:`MissingDependencyError` with the exact pip command.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from course_utils.errors import MissingDependencyError


def require_package(module: str, pip_name: str | None = None, no_deps: bool = False, purpose: str = "") -> Path:
    """The folder of ``module``; :class:`MissingDependencyError` naming ``pip install [--no-deps] pip_name``.

    ``purpose`` ("needed to read GGUF files") is added to the message. Nothing is imported.
    """
    pip_name = pip_name or module
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        spec = None
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        what = f"the package {pip_name}" + (f" ({purpose})" if purpose else "")
        raise MissingDependencyError(what, f"pip install{' --no-deps' if no_deps else ''} {pip_name}")
    if spec.origin is not None and spec.origin not in ("namespace", "built-in", "frozen"):
        return Path(spec.origin).parent
    return Path(next(iter(spec.submodule_search_locations or [""])))
