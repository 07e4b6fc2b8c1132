"""What every checker test shares: the student edition's stub and the assertion that feedback names the fault.

Imported by the ``test_checks_*`` modules (pytest puts tests/ on the path: the folder is not a package).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from course_utils.practice.grading import STUB_MESSAGE, CheckResult


def assert_rejected(result: CheckResult, *fragments: str) -> None:
    """``result`` is a rejection whose feedback contains every one of ``fragments``."""
    assert not result, result
    for fragment in ("NOT YET", *fragments):
        assert fragment in str(result), f"{fragment!r} missing from feedback:\n{result}"


def stub(*args, **kwargs):
    """What an exercise does in the student edition before the learner writes it."""
    raise NotImplementedError(STUB_MESSAGE)


ROUNDS = 4  # how many checker runs' worth of random cases a correct answer must pass


def assert_accepted(check: Callable[..., CheckResult], candidate: object, rounds: int = ROUNDS) -> None:
    """A correct ``candidate`` passes ``check`` on ``rounds`` times the checker's default number of random trials.

    One long run, not one test per seed: the checker's fixed cases run once, and its random cases are drawn from
    one seeded generator, so the same number of random cases costs one call instead of ``rounds``.
    """
    default = inspect.signature(check).parameters["trials"].default
    result = check(candidate, trials=rounds * default, seed=0)
    assert result, result
