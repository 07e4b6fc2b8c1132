"""course_utils.cache: the cache folder and atomic writes (nothing half-written survives a crash)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from course_utils import cache as cache_mod
from course_utils.errors import CacheDirError


def test_cache_dir_follows_the_environment(cache: Path) -> None:
    assert cache_mod.cache_dir() == cache and cache.is_dir()
    assert cache_mod.cache_dir("models") == cache / "models" and (cache / "models").is_dir()


def test_cache_dir_defaults_to_data_cache_in_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    assert cache_mod.cache_dir() == Path(cache_mod.__file__).resolve().parent.parent / "data" / "cache"


def test_cache_dir_that_cannot_be_written_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(CacheDirError, match="not writable.*export COURSE_CACHE_DIR="):
        cache_mod.cache_dir()


def test_cache_dir_read_only_filesystem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_CACHE_DIR", "/proc/course-cache")
    with pytest.raises(CacheDirError, match="COURSE_CACHE_DIR"):
        cache_mod.cache_dir()


def test_atomic_dir_publishes_only_complete_folders(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    with cache_mod.atomic_dir(target) as tmp:
        (tmp / "weights.bin").write_bytes(b"123")
        assert not target.exists()
    assert (target / "weights.bin").read_bytes() == b"123"
    assert cache_mod.is_complete(target)
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temp folder left


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path, error: BaseException) -> None:
    target = tmp_path / "entry"
    with pytest.raises(type(error)), cache_mod.atomic_dir(target) as tmp:
        (tmp / "half.bin").write_bytes(b"12")
        raise error
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_survives_a_kill_midway(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing (no cleanup code runs): the target must not exist."""
    target = tmp_path / "entry"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from course_utils.cache import atomic_dir
        with atomic_dir(Path({str(target)!r})) as tmp:
            (tmp / "part1").write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    assert not cache_mod.is_complete(target)


def test_atomic_dir_keeps_a_complete_entry_written_concurrently(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    with cache_mod.atomic_dir(target) as tmp:
        (tmp / "mine").write_text("first")
    with cache_mod.atomic_dir(target) as tmp:  # a second builder finishing later keeps the first copy
        (tmp / "mine").write_text("second")
    assert (target / "mine").read_text() == "first"
    assert len(list(tmp_path.iterdir())) == 1


def test_remove_entry(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "f").write_text("x")
    cache_mod.remove_entry(entry)
    assert not entry.exists()
    cache_mod.remove_entry(entry)  # missing is fine


def test_atomic_write_bytes_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.bin"
    cache_mod.atomic_write_bytes(path, b"old")
    cache_mod.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_atomic_torch_save_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    cache_mod.atomic_torch_save({"w": torch.arange(3)}, path)
    assert torch.equal(torch.load(path)["w"], torch.arange(3))


def test_file_lock_is_reentrant_across_calls(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with cache_mod.file_lock(lock):
        assert lock.exists()
    with cache_mod.file_lock(lock):
        pass
    assert os.path.exists(lock)
