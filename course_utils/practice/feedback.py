"""How a value is shown in feedback (a checker's "expected / got", a reveal's answer): short, with shape and dtype.

Its own module so that ``grading`` and ``reveal`` both use it without importing each other.
"""

from __future__ import annotations

from typing import Any


def show(value: Any, limit: int = 300) -> str:
    """A short, readable text for a value in feedback: tensors and arrays with shape and dtype, long text cut."""
    if type(value).__module__.startswith("torch") and hasattr(value, "shape") and hasattr(value, "tolist"):
        values = value.detach().cpu()
        shown = repr(values.tolist()) if values.numel() <= 400 else f"first values {values.flatten()[:40].tolist()}"
        dtype = str(value.dtype).replace("torch.", "")
        return f"tensor({_cut(shown, limit)}, shape={tuple(value.shape)}, dtype={dtype})"
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        shown = repr(value.tolist()) if value.size <= 400 else f"first values {value.ravel()[:40].tolist()}"
        return f"array({_cut(shown, limit)}, shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v, limit // 2) for v in value) + ("," if len(value) == 1 else "") + ")"
    return _cut(repr(value), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 5] + " ...]"
