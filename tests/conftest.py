"""Shared fixtures. No test ever reads or writes the repository's real cache (data/cache).

Every test gets its own ``COURSE_CACHE_DIR`` (autouse). Parsed corpora (the verse JSON, the digit arrays) are
pure functions of installed packages and take seconds to build, so that sub-folder is shared by the tests of
one worker; a test that damages cache entries on purpose asks for the ``cache`` fixture, which is entirely
fresh and shares nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils.cpu import thread_env, threads_for

ROOT = Path(__file__).resolve().parent.parent

# `make test` runs two workers beside notebook kernels. Each worker gets its share of the cores (the course's one
# thread rule, course_utils.cpu), set before torch is imported: with a thread per core in every worker, the tiny
# tensor ops of unit tests wait on each other (one test took 55 s under load, 2 s alone).
for _name, _value in thread_env(threads_for(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))).items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def _shared_corpora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-corpora")


@pytest.fixture(autouse=True)
def _own_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _shared_corpora: Path
) -> Path:
    folder = tmp_path_factory.mktemp("own-cache")  # not inside tmp_path: tests may list that folder
    (folder / "corpora").symlink_to(_shared_corpora, target_is_directory=True)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty COURSE_CACHE_DIR that shares nothing with other tests."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
    return folder
