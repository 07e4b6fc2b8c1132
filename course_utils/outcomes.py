"""Headline metrics and outcome checks: how a notebook proves it taught something.

``record(accuracy=0.97)`` shows the numbers in the notebook and stores them in the output as a
machine-readable bundle that the runner collects into its summary table. ``expect(...)`` records a metric
and fails the notebook, with a message naming the metric, the value and the bar, when the bar is missed.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, SupportsFloat

from course_utils.validation import describe, require_number, require_str

METRICS_MIME = "application/vnd.course.metrics+json"


def _recordable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.6g}")  # six significant digits: 1.4e-10 stays 1.4e-10
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, numbers.Number):  # Fraction, Decimal; a complex number has no float value: text
        return float(value) if isinstance(value, SupportsFloat) else str(value)
    return str(value)


def _one_number(name: str, value: Any) -> float:
    """``value`` (a number, numpy scalar or one-element tensor) as a float; a TypeError for anything else."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"the value of {name} must be a number, got {describe(value)}")
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"the value of {name} must be one number (a float, or a tensor with one element: "
                        f".item()), got {describe(value)}") from error


def record(**metrics: Any) -> dict[str, Any]:
    """Show ``metrics`` in the notebook and store them in its output for ``course_utils.runner``."""
    if not metrics:
        raise ValueError("record() needs at least one metric, e.g. record(accuracy=0.93)")
    clean = {name: _recordable(value) for name, value in metrics.items()}
    _show(clean, "recorded: " + ", ".join(f"{k}={v}" for k, v in clean.items()))
    return clean


def _show(metrics: dict[str, Any], text: str) -> None:
    """One output line: ``text`` for the reader, ``metrics`` (under METRICS_MIME) for the runner's summary."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is installed with the course
        print(text)
        return
    if get_ipython() is None:  # plain Python (a script, a test): the text alone
        print(text)
        return
    display({METRICS_MIME: metrics, "text/plain": text}, raw=True)


def expect(name: str, value: float, at_least: float | None = None, at_most: float | None = None) -> None:
    """Record ``name=value`` and check it against a bar; raise ``AssertionError`` if it is missed.

    One line per check ("ok: accuracy = 0.93 (>= 0.9)"), which also carries the metric for the runner; it
    returns nothing, so a cell that ends with an ``expect`` shows no stray number.

    Use it for the outcome checks that end each notebook, e.g.
    ``expect("test_accuracy", acc, at_least=0.9 if not SMOKE else 0.3)``. The bars must be finite numbers (a
    NaN bar would let every value pass) with ``at_least <= at_most``; ``value`` must be one number (a float,
    a numpy or 0-d tensor scalar). A NaN value fails the check: that is the outcome, not a bad argument.
    """
    require_str("name", name, non_empty=True)
    if at_least is None and at_most is None:
        raise ValueError(f"expect({name!r}) needs a bar: at_least=..., at_most=... or both")
    if at_least is not None:
        at_least = require_number("at_least", at_least, example="0.9")
    if at_most is not None:
        at_most = require_number("at_most", at_most, example="0.5")
    if at_least is not None and at_most is not None and at_least > at_most:
        raise ValueError(f"expect({name!r}): at_least={at_least:g} is above at_most={at_most:g}, so no value can "
                         "pass; swap them")
    number = _one_number(name, value)  # checked unrounded
    failure = None
    if math.isnan(number):
        failure = f"outcome check failed: {name} is NaN (training diverged?)"
    elif at_least is not None and number < at_least:
        failure = f"outcome check failed: {name} = {number:.4g}, must be >= {at_least}"
    elif at_most is not None and number > at_most:
        failure = f"outcome check failed: {name} = {number:.4g}, must be <= {at_most}"
    if failure is not None:
        record(**{name: number})  # the summary shows the value that missed its bar
        raise AssertionError(failure)
    bars = " and ".join(
        f"{op} {bar}" for op, bar in ((">=", at_least), ("<=", at_most)) if bar is not None
    )
    _show({name: _recordable(number)}, f"ok: {name} = {number:.4g} ({bars})")
