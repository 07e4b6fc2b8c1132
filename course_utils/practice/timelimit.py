"""A time limit for a learner's code: an endless loop becomes feedback, not a hung notebook.

``call_with_time_limit(fn, seconds)`` runs ``fn`` in a worker thread and waits at most ``seconds`` for it.
When time is up it raises :class:`CheckTimeout` into the learner's code, again every ``STOP_EVERY`` seconds
for up to ``STOP_GRACE`` seconds, until the code stops: a bare ``except:`` (or ``except BaseException``)
inside a loop swallows one of them, but a later one lands outside the handler, and the code unwinds. Then,
stopped or not, it raises ``CheckTimeout`` in the caller, so the checker reports "took longer than N s" and
the notebook goes on. Code that catches every single one (a catch-all around a call that loops itself) is
left running in the background, still asked to stop ten times a second, and the feedback says so.

Why a thread and not a SIGALRM timer (this module's first version): a signal handler raises in the thread
that runs the learner's code, and that thread only gives control back once the learner's code unwinds, which
code that catches everything never does; ``setitimer`` does not exist on Windows either, and a signal handler
can only be set in the main thread. Waiting for a thread with a timeout gives control back on every platform,
in every thread. The learner's code runs with the thread's defaults (autograd on).

Stopping the learner's code uses CPython's ``PyThreadState_SetAsyncExc`` (an exception raised in another
thread at its next bytecode boundary). Where it is missing (another Python implementation) the code is left
running, as code stuck inside one long C call (a huge matrix product) is everywhere: it is reported the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from course_utils.validation import require_positive_number

STOP_EVERY = 0.01  # seconds between two stop requests to code that ran out of time
STOP_GRACE = 1.0  # seconds of stop requests before the caller is told the code still runs in the background
BACKGROUND_EVERY = 0.1  # seconds between stop requests to code left running in the background


class CheckTimeout(BaseException):
    """Raised into the learner's code when the time limit is over, and then in the caller (a BaseException:
    ``except Exception`` in the learner's code cannot swallow it)."""


def _raise_in(thread_id: int | None, error: type[BaseException] | None) -> bool:
    """Raise ``error`` in the thread ``thread_id`` at its next bytecode boundary (None clears a pending one).

    False where it cannot be done (not CPython, or the thread is gone).
    """
    if thread_id is None:
        return False
    try:
        import ctypes

        set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        return False
    exception = ctypes.py_object(error) if error is not None else None  # None is passed as NULL: clear
    return set_async_exc(ctypes.c_ulong(thread_id), exception) == 1


def _stop(worker: threading.Thread, outcome: dict[str, Any], grace: float) -> bool:
    """Ask ``worker`` to stop (raise ``CheckTimeout`` in it) every ``STOP_EVERY`` s for ``grace`` s; True if it did."""
    deadline = time.monotonic() + grace
    while not outcome.get("done") and time.monotonic() < deadline:
        if not _raise_in(worker.ident, CheckTimeout):
            break
        worker.join(STOP_EVERY)
    return bool(outcome.get("done"))


def _keep_stopping(worker: threading.Thread, outcome: dict[str, Any]) -> None:
    """A daemon thread that goes on asking code left running in the background to stop, until it does."""

    def reaper() -> None:
        while not outcome.get("done") and worker.is_alive() and _raise_in(worker.ident, CheckTimeout):
            worker.join(BACKGROUND_EVERY)

    threading.Thread(target=reaper, name="course-check-reaper", daemon=True).start()


def call_with_time_limit(fn: Callable[[], None], seconds: float) -> None:
    """Run ``fn()``; raise ``CheckTimeout`` if it takes longer than ``seconds`` (a number > 0).

    Whatever ``fn`` raises is raised here, with its traceback. ``CheckTimeout("still running in the
    background ...")`` says the code could not be stopped (it catches every exception).
    """
    seconds = require_positive_number("seconds", seconds, example="20")
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            fn()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error
        finally:
            outcome["done"] = True  # no call before this line: a stop request cannot land between fn and it
            # Drop a stop request that came as fn returned, or take it here, where it stops nothing. Not
            # contextlib.suppress: its own calls would run before the protection starts.
            try:  # noqa: SIM105
                _raise_in(threading.get_ident(), None)
            except CheckTimeout:
                pass

    worker = threading.Thread(target=target, name="course-check", daemon=True)
    deadline = time.monotonic() + seconds
    worker.start()
    try:
        while not outcome.get("done") and time.monotonic() < deadline:
            worker.join(min(0.1, max(deadline - time.monotonic(), 0.0)))  # short waits: Ctrl-C gets through
    except BaseException:  # KeyboardInterrupt (the stop button) while waiting: stop the learner's code too
        if not _stop(worker, outcome, STOP_GRACE):
            _keep_stopping(worker, outcome)
        raise
    if not outcome.get("done"):
        if not _stop(worker, outcome, STOP_GRACE):
            _keep_stopping(worker, outcome)
            raise CheckTimeout("still running in the background: it catches every exception, even the time "
                               "limit's; restart the kernel to stop it")
        worker.join(1.0)  # done: the thread only has to return
        raise CheckTimeout
    worker.join(1.0)
    if "error" in outcome:
        raise outcome["error"]
