"""The practice loop's framework: check a learner's code on fresh random cases and say what went wrong.

Every exercise checker in ``course_utils.practice.checks`` is built from these pieces:

- ``run_check(exercise, trials, body)`` runs the checker's ``body`` under a time limit and turns whatever the
  learner's code does into a ``CheckResult``: a wrong case (``fail(...)``), an unwritten stub
  (``raise NotImplementedError``), an exception inside the learner's code, an endless loop. It never raises
  for a wrong answer, so a notebook goes on and its outcome checks count the passes.
- ``fail(case, expected, got, hint)`` formats one failed case: the input, the expected value, what the
  learner's code gave and a hint.
- ``tensor_problem(got, want)`` says in words why a tensor is not the expected one (type, shape, values).
- ``reveal(prediction, answer)`` is the other half of a predict-then-reveal question: it compares what the
  learner predicted with the computed answer and reports, never failing the notebook (``course_utils.practice.reveal``,
  re-exported here). The time limit itself is ``course_utils.practice.timelimit``.
- ``exercise("01", "broadcast_shape")`` registers a checker; ``check("01.broadcast_shape", candidate)``
  looks it up (importing ``course_utils.practice.checks.nb01`` on demand), ``exercises_of("01")`` lists them.

Conventions for a notebook exercise (``course_utils.practice.student`` and tests/test_student.py rely on them): the
learner's code sits in a function or class whose body holds the solution between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (so the student edition's stub raises only when it is called); the same cell ends with
``exercises["name"] = check_name(candidate, trials=TRIALS)`` and ``print(exercises["name"])``, calls the
learner's code only through the checker (demonstrations go in the next cell), and needs nothing from earlier
cells but imports, ``TRIALS`` and ``exercises``. A "check yourself" question is a markdown question, a cell of
``predicted_x = None  # your prediction`` lines, and a reveal cell that computes the answer and calls ``reveal``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_utils.practice.feedback import _cut, show  # show is re-exported: checkers import it from here
from course_utils.practice.reveal import reveal  # re-exported: notebooks import it from here
from course_utils.practice.timelimit import CheckTimeout, call_with_time_limit
from course_utils.validation import require_positive_int, require_positive_number

DEFAULT_TIME_LIMIT = 20.0  # seconds one checker may take in all; a correct answer needs a fraction of it
STUB_MESSAGE = "write your solution here"  # what the student edition's stubs raise (course_utils.practice.student)
_PACKAGE_DIR = str(Path(__file__).resolve().parent)

__all__ = [
    "CheckResult", "CheckTimeout", "Fail", "REGISTRY", "call_with_time_limit", "check", "exercise", "exercises_of",
    "fail", "require_callable", "require_class", "reveal", "run_check", "show", "summarize", "tensor_problem",
]


@dataclass
class CheckResult:
    """The verdict of one checker: which exercise, passed or not, cases run, and the feedback to show."""

    exercise: str
    passed: bool
    cases: int
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.exercise}: {self.message}"


class Fail(Exception):
    """Raised inside a checker's body at the first wrong case; carries the formatted feedback."""


def fail(case: str, expected: Any, got: Any, hint: str) -> Fail:
    """The feedback for one wrong case. ``expected``/``got`` that are not strings are shown with ``show``."""
    expected_text = expected if isinstance(expected, str) else show(expected)
    got_text = got if isinstance(got, str) else show(got)
    if got is None:
        hint += " (your code returned None: is a `return` missing?)"
    return Fail(f"\n  input:    {case}\n  expected: {expected_text}\n  got:      {got_text}\n  hint:     {hint}")


def require_callable(candidate: Any, what: str, example: str) -> Callable[..., Any]:
    """``candidate`` if it is a function or class; fail (as feedback, not a crash) when the learner passed
    something else."""
    if callable(candidate):
        return candidate
    got = f"{type(candidate).__name__} {show(candidate, 80)}"
    raise fail(example, f"your {what} itself (something callable)", got,
               f"pass the {what} without calling it: {example}")


def require_class(candidate: Any, example: str) -> None:
    """Fail (as feedback) unless the learner passed a class itself, not an instance or something else."""
    if isinstance(candidate, type):
        return
    got = f"{type(candidate).__name__} {show(candidate, 80)}"
    raise fail(example, "your class itself", got,
               f"pass the class, not an instance of it: {example}, not {example[:-1]}(...))")


def tensor_problem(got: Any, want: Any, atol: float = 1e-6, rtol: float = 1e-5, dtype: bool = False) -> str | None:
    """Why ``got`` is not the tensor ``want`` (None when it is): not a tensor, wrong shape, (dtype), values.

    The one place where checkers compare a learner's tensor with the reference, so it must never crash on what
    a learner returns: any type, shape or dtype it did not expect is described ("your code returned shape
    (4,) instead of (4, 7)"), never raised as if the learner's code had failed.
    """
    import torch

    if not isinstance(got, torch.Tensor):
        return f"a tensor is expected, got {_kind(got)}"
    if tuple(got.shape) != tuple(want.shape):
        return f"your code returned shape {tuple(got.shape)} instead of {tuple(want.shape)}"
    if dtype and got.dtype != want.dtype:
        return f"your code returned dtype {got.dtype} instead of {want.dtype}"
    try:
        return _value_problem(got, want, atol, rtol)
    except Exception as error:  # a tensor these comparisons cannot read (complex, sparse, meta ...)
        return (f"your code returned a tensor the checker cannot compare (dtype {got.dtype}, layout {got.layout}, "
                f"device {got.device}: {type(error).__name__}); return a dense tensor of dtype {want.dtype}")


def _kind(value: Any) -> str:
    """What a learner returned, for feedback: type, and length or shape where it has one."""
    name = type(value).__name__
    if hasattr(value, "shape") and not isinstance(value, type):
        return f"{name} of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"{name} of length {len(value)}"
    return name


def _value_problem(got: Any, want: Any, atol: float, rtol: float) -> str | None:
    import torch

    a, b = got.detach().cpu(), want.detach().cpu()
    if a.is_complex() and not b.is_complex():
        return f"your code returned complex values (dtype {got.dtype}) instead of real ones ({want.dtype})"
    if not (a.is_floating_point() or b.is_floating_point()):
        if torch.equal(a.long(), b.long()):
            return None
        where = (a.long() != b.long()).nonzero()[0].tolist()
        return f"differs at index {tuple(where)}: {a[tuple(where)].item()} instead of {b[tuple(where)].item()}"
    a, b = a.double(), b.double()
    close = torch.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return None
    where = (~close).nonzero()[0].tolist()
    diff = (a - b).abs().nan_to_num(float("inf")).max().item()
    return (f"values differ (largest difference {diff:.3g}); first at index {tuple(where)}: "
            f"{a[tuple(where)].item():.6g} instead of {b[tuple(where)].item():.6g}")


# --- running the learner's code ----------------------------------------------------------------------------------
def _learner_frame(error: BaseException) -> str:
    """'in fn, line 3: code' for the innermost traceback frame outside course_utils (the learner's code)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_PACKAGE_DIR)]
    mine = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename]
    if not mine:  # the error came from the library, called by the checker: no line of the learner's to show
        return ""
    frame = mine[-1]
    line = f": {frame.line.strip()}" if frame.line else ""
    return f"\n  where:    in {frame.name}, line {frame.lineno}{line}"


def _raised_by_checker(error: BaseException) -> bool:
    """True when the innermost frame of ``error`` is course_utils' own code (a checker reading the learner's result),
    not a library the checker called with the learner's object (that error is the learner's to fix)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_PACKAGE_DIR)


def run_check(exercise: str, trials: int, body: Callable[[dict[str, str]], None],
              time_limit: float = DEFAULT_TIME_LIMIT) -> CheckResult:
    """Run a checker's ``body(current)`` and turn its outcome into a ``CheckResult``.

    ``body`` tries the cases and raises ``fail(...)`` at the first wrong one; before calling the learner's code
    it writes a description of the case into ``current["case"]``, so that an exception or a time-out inside the
    learner's code is reported with the input that caused it. An exception raised by the checker's own code
    (not the learner's, nor a library the learner's object was handed to) is reported as the checker failing on
    what the learner's code gave it, never as "your code raised".
    """
    require_positive_int("trials", trials, example="20")
    time_limit = require_positive_number("time_limit", time_limit, example=f"{DEFAULT_TIME_LIMIT:g} (seconds)")
    current = {"case": "?"}
    try:
        call_with_time_limit(lambda: body(current), time_limit)
    except Fail as failure:
        return CheckResult(exercise, False, trials, f"a case failed:{failure}")
    except NotImplementedError as error:
        if str(error) in ("", STUB_MESSAGE):
            return CheckResult(exercise, False, trials,
                               "not written yet: replace `raise NotImplementedError(...)` with your code")
        return CheckResult(exercise, False, trials, f"your code raised NotImplementedError: {error}\n"
                           f"  input:    {current['case']}{_learner_frame(error)}")
    except CheckTimeout as error:
        background = f"; {error.args[0]}" if error.args else ""
        return CheckResult(exercise, False, trials, f"your code took longer than {time_limit:g} s (time limit of "
                           f"{time_limit:g} s reached{background})\n"
                           f"  input:    {current['case']}\n"
                           "  hint:     an endless loop? a while-condition that never changes? a huge tensor?")
    except Exception as error:  # the learner's code crashed: feedback, not a crash of the notebook
        where = _learner_frame(error)
        if not where and _raised_by_checker(error):  # the checker's own code failed on what it was given
            return CheckResult(exercise, False, trials, "the checker could not handle what your code gave it "
                               f"({type(error).__name__}: {_cut(str(error), 300)})\n"
                               f"  input:    {current['case']}\n"
                               "  hint:     compare the type and shape of your result with what the exercise asks "
                               "for (print it, or its .shape)")
        return CheckResult(exercise, False, trials, f"your code raised {type(error).__name__}: {error}\n"
                           f"  input:    {current['case']}{where}")
    return CheckResult(exercise, True, trials, f"all {trials} random cases agree with the reference")


# --- the registry ---------------------------------------------------------------------------------------------
REGISTRY: dict[str, Callable[..., CheckResult]] = {}


@contextlib.contextmanager
def random_state_kept() -> Iterator[None]:
    """Restore the global random states (torch's CPU generator, ``random``, NumPy) on exit.

    Every registered checker runs inside it, so calling a checker never changes the learner's later random
    draws, whatever the checker (a ``torch.manual_seed`` to build a layer) or the learner's code draws.
    """
    import random

    import numpy as np
    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def exercise(notebook: str, name: str) -> Callable[[Callable[..., CheckResult]], Callable[..., CheckResult]]:
    """Register a checker as ``"<notebook>.<name>"`` (e.g. ``"01.broadcast_shape"``); it runs inside
    :func:`random_state_kept`, so it leaves the learner's random state as it found it."""

    def register(checker: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        @functools.wraps(checker)
        def kept(*args: Any, **kwargs: Any) -> CheckResult:
            with random_state_kept():
                return checker(*args, **kwargs)

        REGISTRY[f"{notebook}.{name}"] = kept
        return kept

    return register


def _load(notebook: str) -> None:
    try:
        importlib.import_module(f"course_utils.practice.checks.nb{notebook}")
    except ModuleNotFoundError as error:
        if error.name != f"course_utils.practice.checks.nb{notebook}":
            raise
        raise KeyError(f"no checkers for notebook {notebook!r} "
                       f"(course_utils/practice/checks/nb{notebook}.py)") from None


def exercises_of(notebook: str) -> list[str]:
    """The registered exercise names of one notebook, e.g. ``exercises_of("01")``."""
    _load(notebook)
    return sorted(name for name in REGISTRY if name.split(".")[0] == notebook)


def check(name: str, candidate: Any, **options: Any) -> CheckResult:
    """Run the registered checker ``name`` (``"01.broadcast_shape"``) on the learner's ``candidate``."""
    if not isinstance(name, str) or "." not in name:
        raise ValueError(f"name the exercise as '<notebook>.<exercise>', e.g. '01.broadcast_shape', got {name!r}")
    if name not in REGISTRY:
        _load(name.split(".")[0])
    if name not in REGISTRY:
        known = ", ".join(exercises_of(name.split(".")[0]))
        raise KeyError(f"unknown exercise {name!r}; this notebook has: {known}")
    return REGISTRY[name](candidate, **options)


def summarize(results: dict[str, CheckResult]) -> int:
    """Print every verdict, one line each, and return how many passed."""
    for result in results.values():
        print(str(result).splitlines()[0])
    passed = sum(bool(r) for r in results.values())
    print(f"{passed} of {len(results)} exercises passed")
    return passed

