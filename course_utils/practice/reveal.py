"""Predict, then reveal: compare a learner's written prediction with the computed answer and say so.

The other half of a "check yourself" question (the learner writes ``predicted_x = ...`` first, then runs the
reveal cell). It never fails the notebook: a wrong or missing prediction is reported, not raised.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

from course_utils.practice.feedback import show


def _plain(value: Any) -> Any:
    """Python values for comparison: tensors/arrays -> lists or numbers, torch.Size -> tuple."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if type(value).__name__ == "Size":
        return tuple(value)
    return value


def _same(prediction: Any, answer: Any, tolerance: float) -> bool:
    p, a = _plain(prediction), _plain(answer)
    if isinstance(a, bool) or isinstance(p, bool):
        return isinstance(p, bool) and isinstance(a, bool) and p == a
    if isinstance(a, (int, float)) and isinstance(p, (int, float)):
        return math.isclose(p, a, rel_tol=tolerance, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(p, str):
        return " ".join(p.lower().split()) == " ".join(a.lower().split())
    if isinstance(a, (set, frozenset)) and isinstance(p, Iterable) and not isinstance(p, (str, dict)):
        return set(p) == set(a)
    if isinstance(a, dict) and isinstance(p, dict):
        return p.keys() == a.keys() and all(_same(p[k], a[k], tolerance) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(p, (list, tuple)):
        return len(p) == len(a) and all(_same(x, y, tolerance) for x, y in zip(p, a))
    return p == a


def _brief(value: Any) -> str:
    """A value for a reveal message: numbers to 6 significant digits, the rest as ``show`` gives it."""

    value = _plain(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return show(value, 200)


def reveal(prediction: Any, answer: Any, what: str = "the answer", explain: str = "",
           tolerance: float = 1e-3) -> bool | None:
    """Compare the learner's ``prediction`` with the computed ``answer`` and say so; never raises.

    Returns True (right), False (not quite) or None (no prediction written: ``prediction`` is None).
    Numbers match within a relative ``tolerance`` (a typed 1.4167 matches 4.25 / 3); shapes, lists and tuples
    element by element; text ignoring case and spacing; sets in any order.
    """
    from course_utils.validation import require_number, require_str

    tolerance = require_number("tolerance", tolerance, minimum=0.0, example="1e-3 (relative)")
    require_str("what", what)
    require_str("explain", explain)
    shown = _brief(answer)
    if prediction is None:
        print(f"No prediction written for {what}: it is {shown}.")
        print("  (Write yours in the cell above, run it, then this cell again to compare.)")
        result = None
    else:
        try:
            result = bool(_same(prediction, answer, tolerance))
        except Exception:  # an odd prediction (wrong type ...) is simply not a match
            result = False
        if result:
            print(f"Right: {what} is {shown}, as you predicted.")
        else:
            print(f"Not quite: you predicted {_brief(prediction)}, but {what} is {shown}.")
    if explain:
        print(f"  Why: {explain}")
    sys.stdout.flush()
    return result
