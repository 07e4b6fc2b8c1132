"""Shared fixtures. No test ever reads or writes the repository's real cache (data/cache).

Every test gets its own ``COURSE_CACHE_DIR`` (autouse). Parsed corpora (the verse JSON, the digit arrays) are
pure functions of installed packages and take seconds to build, so that sub-folder is shared by the tests of
one worker; a test that damages cache entries on purpose asks for the ``cache`` fixture, which is entirely
fresh and shares nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from course_utils.cpu import thread_env, threads_for
from course_utils.fast_papermill import block_slow_imports

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Give each test process its share of the cores (the course's one thread rule, course_utils.cpu).

    `make test` runs two xdist workers beside notebook kernels; with a thread per core in every worker the tiny
    tensor ops of unit tests wait on each other (one test took 26 s in the suite, 3 s alone). This runs before
    any test module imports torch. Under ``-n N`` the controller sets the variables for the N workers it starts
    (they inherit its environment); a value the user exported is kept.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", 0) or 1)
    for name, value in thread_env(threads_for(workers)).items():
        os.environ.setdefault(name, value)
    if "torch" in sys.modules:  # a plugin imported it first: the variables came too late for it
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    block_slow_imports()  # nbformat's validator without a 1.4 s grammar it never uses (course_utils.fast_papermill)


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
