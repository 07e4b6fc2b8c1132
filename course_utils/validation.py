"""The one way course_utils checks the arguments of its public functions: ``require_*(name, value)``.

A bad argument must fail at once, in our code, with a message that names the argument, shows the value and
says the fix, never three frames down in a library (``'<' not supported between instances of 'float' and
'str'``) and never as a silently wrong result (an empty split, an integer mask added to the scores). Each
helper returns the value converted to the plain Python type (a numpy or 0-d tensor scalar becomes an ``int``
or ``float``), so ``n = require_positive_int("n", n)`` both checks and normalises.

- numbers: :func:`require_int`, :func:`require_positive_int`, :func:`require_number`,
  :func:`require_positive_number`, :func:`require_seed`, :func:`require_bool`;
- fractions: :func:`require_fraction` (strictly between 0 and 1 unless told otherwise) and
  :func:`require_fractions_leave_room` (held-out fractions whose sum leaves something to train on);
- text and choices: :func:`require_str`, :func:`require_str_list`, :func:`require_choice`;
- tensors: :func:`require_tensor`, :func:`require_token_tensor` (integer ``[batch, length]``) and
  :func:`require_bool_mask`.

Errors are ``TypeError`` (wrong kind of value) and ``ValueError`` (right kind, wrong value), or
:class:`course_utils.errors.UnknownNameError` for a name outside a known set. The helpers are named
``require_*``: ``check_*`` in course_utils means "grade a learner's exercise" (``course_utils.practice.checks``). This
module imports neither torch nor numpy at load time (the runner and ``nbclean`` start without torch).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from course_utils.errors import UnknownNameError

__all__ = [
    "describe", "require_bool", "require_bool_mask", "require_choice", "require_fraction",
    "require_fractions_leave_room", "require_int", "require_number", "require_positive_int",
    "require_positive_number", "require_seed", "require_str", "require_str_list", "require_tensor",
    "require_token_tensor",
]


def describe(value: Any, limit: int = 60) -> str:
    """A value as an error message shows it: ``'0.2' (str)``, ``-3``, ``a tensor of shape (2, 3), dtype int64``."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not _is_scalar(value):
        kind = "tensor" if type(value).__module__.startswith("torch") else type(value).__name__
        return f"a {kind} of shape {tuple(shape)}, dtype {str(dtype).replace('torch.', '')}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 4] + " ..."
    if isinstance(value, bool) or value is None:
        return text
    if type(value) in (int, float):
        return text
    return f"{text} ({type(value).__name__})"


def _is_scalar(value: Any) -> bool:
    shape = getattr(value, "shape", None)
    return shape is not None and len(tuple(shape)) == 0


def _as_python_number(value: Any) -> Any:
    """numpy scalars and 0-d tensors/arrays as Python numbers; anything else unchanged."""
    if isinstance(value, (bool, int, float)):
        return value
    module = type(value).__module__
    if (module.startswith("numpy") or module.startswith("torch")) and _is_scalar(value) and hasattr(value, "item"):
        return value.item()
    return value


# --- numbers ---------------------------------------------------------------------------------------------------
def require_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
                example: str = "") -> int:
    """``value`` as an ``int`` in [``minimum``, ``maximum``] (a numpy integer is accepted; a bool or float is not)."""
    number = _as_python_number(value)
    if isinstance(number, bool) or not isinstance(number, numbers.Integral):
        hint = f", such as {example}" if example else ""
        if isinstance(number, float) and number.is_integer():
            hint = f": write {int(number)}, not {number}"
        raise TypeError(f"{name} must be an int (a whole number){hint}; got {describe(value)}")
    number = int(number)
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        if maximum is None:
            where = f">= {minimum}"
        elif minimum is None:
            where = f"<= {maximum}"
        else:
            where = f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an int {where}{f', such as {example}' if example else ''}; "
                         f"got {describe(value)}")
    return number


def require_positive_int(name: str, value: Any, example: str = "") -> int:
    """``value`` as an ``int`` >= 1 (counts, sizes, epochs, processes)."""
    return require_int(name, value, minimum=1, example=example)


def require_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                   example: str = "") -> float:
    """``value`` as a finite ``float`` in [``minimum``, ``maximum``] (ints and numpy numbers accepted, NaN is not)."""
    number = _as_python_number(value)
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        hint = f", such as {example}" if example else ""
        if isinstance(number, str):
            hint += " (a number, not text: no quotes)"
        raise TypeError(f"{name} must be a number{hint}; got {describe(value)}")
    number = float(number)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number{f', such as {example}' if example else ''}; "
                         f"got {describe(value)} (NaN or infinity compares false with everything)")
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        where = (f">= {minimum:g}" if maximum is None else f"<= {maximum:g}" if minimum is None
                 else f"between {minimum:g} and {maximum:g}")
        raise ValueError(f"{name} must be {where}; got {describe(value)}")
    return number


def require_positive_number(name: str, value: Any, example: str = "") -> float:
    """``value`` as a finite ``float`` > 0 (seconds, learning rates, ratios)."""
    number = require_number(name, value, example=example)
    if not number > 0:
        raise ValueError(f"{name} must be a number > 0{f', such as {example}' if example else ''}; "
                         f"got {describe(value)}")
    return number


def require_seed(name: str, value: Any) -> int:
    """A usable random seed: an int in [0, 2**32) (what numpy's and torch's generators take)."""
    return require_int(name, value, minimum=0, maximum=2**32 - 1, example="0 or 42")


def require_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (a numpy bool is accepted; 0/1, "yes" or None are not)."""
    if type(value).__name__ == "bool_" and type(value).__module__ == "numpy":
        return bool(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return value


# --- fractions -------------------------------------------------------------------------------------------------
def require_fraction(name: str, value: Any, allow_zero: bool = False, allow_one: bool = False) -> float:
    """``value`` as a float between 0 and 1: exclusive at each end unless ``allow_zero``/``allow_one``.

    A string such as ``"0.2"`` is refused with a TypeError (not compared with numbers three frames down).
    """
    low, high = "[0" if allow_zero else "(0", "1]" if allow_one else "1)"
    number = _as_python_number(value)
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        quotes = " (a number, not text: no quotes)" if isinstance(number, str) else ""
        raise TypeError(f"{name} must be a fraction in {low}, {high}, such as 0.1{quotes}; got {describe(value)}")
    number = float(number)
    above = number >= 0.0 if allow_zero else number > 0.0
    below = number <= 1.0 if allow_one else number < 1.0
    inside = above and below
    if not inside:  # NaN lands here too
        hint = " (a percentage? divide it by 100)" if 2.0 <= number <= 100.0 else ""
        raise ValueError(f"{name} must be a fraction in {low}, {high}, such as 0.1; got {describe(value)}{hint}")
    return number


def require_fractions_leave_room(fractions: Mapping[str, Any], what: str = "training") -> list[float]:
    """The held-out ``fractions`` (name -> value, e.g. validation and test) if each is in (0, 1) and their sum
    leaves a part for ``what``; returned as floats in the order given."""
    values = [require_fraction(name, value) for name, value in fractions.items()]
    if sum(values) >= 1.0:
        terms = " + ".join(f"{name} ({value:g})" for name, value in zip(fractions, values))
        raise ValueError(f"{terms} = {sum(values):g} leaves nothing for {what}: the held-out fractions must sum to "
                         "less than 1, e.g. 0.1 each")
    return values


# --- text and choices ------------------------------------------------------------------------------------------
def require_str(name: str, value: Any, non_empty: bool = False) -> str:
    """``value`` if it is a string (non-blank with ``non_empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string; got {describe(value)}")
    if non_empty and not value.strip():
        raise ValueError(f"{name} must be non-empty text; got {value!r}")
    return value


def require_str_list(name: str, value: Any, example: str = "['a', 'b']", non_empty: bool = True,
                     what: str = "names") -> list[str]:
    """``value`` as a list of strings (``what`` they are, for the message): a list/tuple/set, not one string;
    non-empty unless told otherwise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise TypeError(f"{name} must be a list of {what} such as {example}, not {describe(value)}")
    items = list(value)
    if non_empty and not items:
        raise ValueError(f"{name} is empty: give at least one, such as {example}")
    bad = next((item for item in items if not isinstance(item, str)), None)
    if bad is not None:
        raise TypeError(f"{name} must hold strings such as {example}; found {describe(bad)}")
    return items


def require_choice(name: str, value: Any, choices: Iterable[str], kind: str | None = None) -> str:
    """``value`` if it is one of ``choices``; else :class:`UnknownNameError` listing them."""
    known = list(choices)
    if not isinstance(value, str) or value not in known:
        raise UnknownNameError(kind or name, value, known)
    return value


# --- tensors ---------------------------------------------------------------------------------------------------
def require_tensor(name: str, value: Any, dims: int | Sequence[int] | None = None, shape_hint: str = "") -> Any:
    """``value`` if it is a ``torch.Tensor`` with ``dims`` dimensions (one number or a list of allowed ones)."""
    import torch

    hint = f" {shape_hint}" if shape_hint else ""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{hint}; got {describe(value)}: "
                        "convert it with torch.tensor(...)")
    if dims is not None:
        allowed = [dims] if isinstance(dims, int) else list(dims)
        if value.dim() not in allowed:
            wanted = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must have {wanted} dimensions{hint}; got {describe(value)}")
    return value


def require_token_tensor(name: str, value: Any, what: str = "token ids") -> Any:
    """``value`` if it is an integer tensor of shape [batch, length] (token ids, an ``attention_mask``)."""
    import torch

    require_tensor(name, value, shape_hint=f"of {what}, shape [batch, length]")
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer {what} (dtype int64), got {describe(value)}: "
                        "use the tokenizer's output, or .long() if the values are whole numbers")
    if value.dim() != 2:
        fix = " (one sequence? add the batch dimension with .unsqueeze(0))" if value.dim() == 1 else ""
        raise ValueError(f"{name} must be [batch, length]; got {describe(value)}{fix}")
    return value


def require_bool_mask(name: str, value: Any, allow_float: bool = False) -> Any:
    """``value`` if it is a boolean tensor (True = keep/attend); with ``allow_float`` an additive float mask too.

    An integer 0/1 tensor (a tokenizer's ``attention_mask``) is refused: added to scores it would shift them
    by 0 or 1 instead of hiding anything, so it must be turned into booleans (``.bool()``) on purpose.
    """
    import torch

    require_tensor(name, value, shape_hint="(a boolean mask)")
    if value.dtype == torch.bool or allow_float and value.is_floating_point():
        return value
    also = " or a float mask added to the scores (0 or -inf)" if allow_float else ""
    raise TypeError(f"{name} must be a boolean tensor (True = may attend){also}; got {describe(value)}. "
                    f"An integer 0/1 mask is not a mask: pass {name}.bool() (1 -> True = may attend)")
