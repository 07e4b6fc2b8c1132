"""A time limit for a learner's code: an endless loop becomes feedback, not a hung notebook.

``call_with_time_limit(fn, seconds)`` uses a SIGALRM timer where the platform and thread allow it (it interrupts
the learner's code itself) and otherwise a daemon thread that the caller stops waiting for (Windows, a
non-main thread). Used by ``course_utils.grading.run_check``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any


class CheckTimeout(BaseException):
    """Raised into the learner's code when the time limit is over (a BaseException: ``except Exception`` in the
    learner's code cannot swallow it)."""


def _with_alarm(fn: Callable[[], None], seconds: float) -> bool:
    """Run ``fn`` with a SIGALRM timer; False when a signal timer cannot be used here (caller falls back)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    outer_left, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if outer_left and outer_left <= seconds:  # an outer timer (pytest-timeout ...) would fire first: leave it alone
        return False

    def on_alarm(signum: int, frame: Any) -> None:
        raise CheckTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left:  # give the outer timer back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3), outer_interval)
    return True


def _with_thread(fn: Callable[[], None], seconds: float) -> None:
    """Run ``fn`` in a daemon thread and wait at most ``seconds`` (where signals are unavailable: Windows,
    a non-main thread). A thread cannot be stopped: code still running is left behind, and reported."""
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fn()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name="course-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CheckTimeout("still running in the background")
    if "error" in outcome:
        raise outcome["error"]


def call_with_time_limit(fn: Callable[[], None], seconds: float) -> None:
    """Run ``fn()``; raise ``CheckTimeout`` if it takes longer than ``seconds`` (signal timer where available,
    else a daemon thread)."""
    if not _with_alarm(fn, seconds):
        _with_thread(fn, seconds)
