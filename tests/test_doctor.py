"""course_utils.doctor: the environment against the lock, each problem with its fix, a non-zero exit on problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils import doctor, lock, pinned


def test_the_locked_environment_is_healthy(capsys: pytest.CaptureFixture) -> None:
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "this environment is the one the course tested" in out
    assert "transformers" in out and "device: " in out and "cache: " in out and "Bible corpus" in out


def _rows(monkeypatch: pytest.MonkeyPatch, **installed: str | None) -> None:
    real = lock.installed_rows()
    fake = [
        lock.Installed(r.name, installed.get(r.name.replace("-", "_"), r.installed), r.locked, r.range) for r in real
    ]
    monkeypatch.setattr(lock, "installed_rows", lambda names=None: fake)


def test_a_package_outside_its_range_or_missing_is_a_problem_with_its_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _rows(monkeypatch, transformers="4.57.6", peft=None)
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    locked = lock.pick(pinned.LOCKED["transformers"])
    assert (
        f"PROBLEM: transformers 4.57.6 is outside the supported >=5.23,<6: pip install 'transformers=={locked}'" in out
    )
    assert "PROBLEM: peft is not installed: run make setup" in out
    assert "doctor: problems found" in out


def test_in_range_but_not_locked_is_only_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _rows(monkeypatch, tqdm="4.67.0")
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "warning: tqdm 4.67.0 is in range but not the tested" in out and "ready (see the warnings)" in out


def test_an_old_torch_is_named_without_offering_to_replace_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _rows(monkeypatch, torch="2.5.1")
    report = doctor.diagnose()
    assert any("torch 2.5.1 is outside" in p and "never replaces torch" in p for p in report.problems)


def test_python_older_than_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinned, "PYTHON_FLOOR", "3.99")
    assert any("older than 3.99" in p for p in doctor.diagnose().problems)


def test_an_unusable_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    assert any("cache folder" in p for p in doctor.diagnose().problems)
