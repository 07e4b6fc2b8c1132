"""What every checker test shares: the student edition's stub and the assertion that feedback names the fault.

Imported by the ``test_checks_*`` modules (pytest puts tests/ on the path: the folder is not a package).
"""

from __future__ import annotations

from course_utils.practice.grading import STUB_MESSAGE, CheckResult


def assert_rejected(result: CheckResult, *fragments: str) -> None:
    """``result`` is a rejection whose feedback contains every one of ``fragments``."""
    assert not result, result
    for fragment in ("NOT YET", *fragments):
        assert fragment in str(result), f"{fragment!r} missing from feedback:\n{result}"


def stub(*args, **kwargs):
    """What an exercise does in the student edition before the learner writes it."""
    raise NotImplementedError(STUB_MESSAGE)
