"""course_utils.canary: the floor and the canary resolve their own versions, not the lock's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from course_utils import canary, lock


@pytest.fixture
def ranges(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("tqdm>=4.66,<5\npackaging>=23,<27\n")
    return path


def test_canary_resolves_newer_than_the_floor(ranges: Path) -> None:
    floor = canary.resolve("floor", ranges, "3.11")
    newest = canary.resolve("canary", ranges, "3.11")
    assert set(floor) == set(newest) == {"tqdm", "packaging"}
    assert floor["tqdm"].startswith("4.66.")  # the lowest the range allows
    assert Version(newest["tqdm"]) > Version("4.66.6")  # newer releases exist: the canary takes them
    assert Version(newest["packaging"]) > Version(floor["packaging"])


def test_the_canary_is_not_the_locked_venv(ranges: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The canary resolves from the ranges, whatever the lock pins, and build_venv installs that resolution."""
    old_lock = tmp_path / "requirements.lock"
    old_lock.write_text("tqdm==4.66.0\npackaging==23.0\n")
    monkeypatch.setattr(lock, "LOCK_FILE", old_lock)
    newest = canary.resolve("canary", ranges, "3.11")
    assert Version(newest["tqdm"]) > Version("4.66.0") and Version(newest["packaging"]) > Version("23.0")
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append([str(c) for c in cmd])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    canary.build_venv(tmp_path / "venv", newest)
    installs = [c for c in calls if "install" in c and "--no-deps" not in c]
    assert installs[0][-2:] == [f"packaging=={newest['packaging']}", f"tqdm=={newest['tqdm']}"]


def test_table_marks_newer_and_older() -> None:
    locked = lock.pick(lock.read_lock()["tqdm"])
    rows = canary.table(
        "canary", {"tqdm": "9.0.0", "numpy": "2.0.0", "faker": str(lock.pick(lock.read_lock()["faker"]))}
    )
    assert f"| tqdm | {locked} | 9.0.0 | newer |" in rows
    assert any(r.startswith("| numpy |") and r.endswith("| older |") for r in rows)
    assert any(r.startswith("| faker |") and r.endswith("| same |") for r in rows)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        canary.resolve("newest")
