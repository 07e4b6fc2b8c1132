"""Small helpers for working with 🤗 Transformers in notebooks and in course_utils builds.

:func:`quiet_transformers` is the one place that silences transformers' own chatter (loading reports,
"some weights were newly initialised" warnings, a progress bar per model load or save). Notebooks call it
once after their imports, because they print what matters themselves; course_utils builds use it as a
context manager so that the caller's settings come back afterwards.
"""

from __future__ import annotations

from types import TracebackType


class quiet_transformers:  # lower case: it is used like a function, quiet_transformers() or a with block
    """Set transformers' logging to errors only and hide its progress bars.

    Called on its own, it stays in effect for the rest of the session (what a notebook wants). Used as
    ``with quiet_transformers(): ...`` it restores the previous verbosity and progress-bar setting on exit
    (what a library function wants: it must not change its caller's settings). Errors are still shown, and
    so are the progress bars that ``Trainer`` and tqdm draw for training loops (they are not transformers'
    logging bars). ``datasets=True`` also hides the ``datasets`` bars (one per ``map``), e.g. in a build
    whose own progress bar is the one that matters.
    """

    def __init__(self, datasets: bool = False) -> None:
        from transformers.utils import logging as hf_logging

        from course_utils.validation import require_bool

        datasets = require_bool("datasets", datasets)

        self._logging = hf_logging
        self._verbosity = hf_logging.get_verbosity()
        self._bars = hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self._datasets_bars = None
        if datasets:
            from datasets.utils import logging as ds_logging

            self._datasets_bars = ds_logging.is_progress_bar_enabled()
            ds_logging.disable_progress_bar()

    def __enter__(self) -> quiet_transformers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._logging.set_verbosity(self._verbosity)
        if self._bars:
            self._logging.enable_progress_bar()
        else:
            self._logging.disable_progress_bar()
        if self._datasets_bars:
            from datasets.utils import logging as ds_logging

            ds_logging.enable_progress_bar()
