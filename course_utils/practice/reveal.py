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


def _comparable(value: Any) -> Any:
    """Python values for comparison: tensors/arrays -> lists or numbers, torch.Size -> tuple."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    if type(value).__name__ == "Size":
        return tuple(value)
    return value


MIN_DIGITS = 2  # a typed number is compared to the answer rounded to its own precision, from 2 significant digits


def significant_digits(number: float) -> int:
    """How many significant digits a typed float carries: 0.33 -> 2, 1.4167 -> 5, 2e-05 -> 1."""
    mantissa = f"{abs(number):.15g}".split("e")[0].replace(".", "").lstrip("0")
    return max(len(mantissa), 1)


def _same_number(p: float, a: float, tolerance: float) -> bool:
    """Within the relative ``tolerance``, or equal to the answer rounded to the digits the learner typed."""
    if math.isclose(p, a, rel_tol=tolerance, abs_tol=1e-12):
        return True
    if isinstance(p, int) or not math.isfinite(p) or not math.isfinite(a):
        return False
    digits = significant_digits(p)
    return digits >= MIN_DIGITS and math.isclose(float(f"{a:.{digits}g}"), p, rel_tol=1e-12, abs_tol=1e-15)


def _same(prediction: Any, answer: Any, tolerance: float) -> bool:
    p, a = _comparable(prediction), _comparable(answer)
    if isinstance(a, bool) or isinstance(p, bool):
        return isinstance(p, bool) and isinstance(a, bool) and p == a
    if isinstance(a, (int, float)) and isinstance(p, (int, float)):
        return _same_number(p, a, tolerance)
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

    value = _comparable(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return show(value, 200)


def reveal(prediction: Any, answer: Any, what: str = "the answer", explain: str = "",
           tolerance: float = 1e-3) -> bool | None:
    """Compare the learner's ``prediction`` with the computed ``answer`` and say so; never raises.

    Returns True (right), False (not quite) or None (no prediction written: ``prediction`` is None).
    A number matches when it is the answer rounded to the precision you typed, from two significant digits on
    (0.33 for 1/3, 1.4167 or 1.42 for 4.25 / 3; 0.3 is too rough), or within a relative ``tolerance``;
    shapes, lists and tuples element by element; text ignoring case and spacing; sets in any order.
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
