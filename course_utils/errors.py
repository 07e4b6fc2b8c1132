"""Exception types of course_utils.

Every error raised by the package says what went wrong and what to do about it, so a learner who hits one
in a notebook can fix it without reading our source.
"""

from __future__ import annotations


class CourseError(Exception):
    """Base class of every error course_utils raises on purpose."""


class MissingDependencyError(CourseError, ImportError):
    """An optional package or a Debian corpus the function needs is not installed."""

    def __init__(self, what: str, install: str) -> None:
        super().__init__(f"{what} is not installed. Install it with: {install}")
        self.what = what
        self.install = install


class UnknownNameError(CourseError, KeyError):
    """A name (dataset, view, language ...) that course_utils does not know."""

    def __init__(self, kind: str, name: object, known: list[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")
        self.name = name
        self.known = known

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class CacheDirError(CourseError, OSError):
    """The cache folder cannot be created or written."""


class CorpusDownloadError(CourseError, OSError):
    """A corpus could not be downloaded, or what arrived failed its checksum (nothing of it was kept)."""
