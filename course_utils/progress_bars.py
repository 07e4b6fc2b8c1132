"""Progress bars in a headless run: no live bar, one finished line per bar that is kept.

In JupyterLab a progress bar is a widget that moves while a loop runs. A notebook executed headlessly (the tests,
``make run``, nbmake, the website's executed copies) saves only the widget's first text rendering, so a saved
bar reads "0%" (or stops at 93%) forever. With ``COURSE_HEADLESS=1`` (set by the runner and the Makefile), the
course's ``import course_utils`` replaces ``tqdm.auto``'s bar, before the course's modules, transformers or
datasets import it, with :class:`FinishedBars`: nothing is drawn while the loop runs, a bar that is kept
(``leave=True``) prints its final state as one line on stdout when it closes ("epoch 1: 100%| 16/16 [00:02,
7.1it/s]"), and a bar that is cleared (``leave=False``) leaves nothing. A learner's interactive kernel never sets
the variable and keeps the widgets.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import std

ENV = "COURSE_HEADLESS"


class FinishedBars(std.tqdm):
    """A tqdm that draws nothing while it runs and, on close, one line with its final state if it is kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("file", sys.stdout)  # not stderr: a saved notebook shows stderr as a warning box
        self._finished = False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Draw only the final state (``close`` asks for it once); every live refresh is a no-op."""
        if self._finished and msg is None:
            self.fp.write(str(self))
        return True

    def close(self) -> None:
        """Print the final line of a kept bar; a cleared bar (``leave=False``) closes without a trace."""
        if getattr(self, "disable", True):
            return
        kept = abs(getattr(self, "pos", 0)) == 0 if self.leave is None else self.leave
        if kept:
            self._finished = True
        else:
            self.sp = None  # tqdm's close returns before clearing a line that was never drawn
        super().close()


def install() -> bool:
    """Make ``tqdm.auto.tqdm`` (and ``trange``) :class:`FinishedBars` when ``COURSE_HEADLESS=1``; True if it did.

    Only code that imports ``tqdm.auto`` afterwards gets it, which is why ``course_utils/__init__`` calls this:
    the set-up cell imports course_utils before anything else that draws a bar.
    """
    if os.environ.get(ENV) != "1":
        return False
    import tqdm.auto
    import tqdm.autonotebook

    def trange(*args: Any, **kwargs: Any) -> FinishedBars:
        return FinishedBars(range(*args), **kwargs)

    for module in (tqdm.auto, tqdm.autonotebook):
        module.tqdm = FinishedBars
        module.trange = trange
    return True
