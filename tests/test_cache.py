"""course_utils.cache: the cache folder and atomic writes (nothing half-written survives a crash)."""

from __future__ import annotations

import json
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


def test_cache_dir_defaults_to_data_cache_in_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    assert Path(cache_mod.__file__).resolve().parent.parent / "data" == cache_mod._REPO_DATA
    checkout_data = tmp_path / "data"
    checkout_data.mkdir()
    (checkout_data / "README.md").write_text("sources")
    monkeypatch.setattr(cache_mod, "_REPO_DATA", checkout_data)
    assert cache_mod.cache_dir() == checkout_data / "cache"
    monkeypatch.setattr(cache_mod, "_REPO_DATA", tmp_path / "installed-elsewhere")
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    assert cache_mod.cache_dir() == tmp_path / "home" / ".cache" / "course_utils"


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


def test_file_lock_excludes_a_second_process(tmp_path: Path) -> None:
    """Two real processes: the second enters only after the first has left (no interleaving)."""
    lock, log = tmp_path / "x.lock", tmp_path / "log.txt"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from course_utils.cache import file_lock
        name = sys.argv[1]
        with file_lock(Path({str(lock)!r})):
            with open({str(log)!r}, "a") as f:
                f.write(name + " in\\n"); f.flush()
            time.sleep(1.0)
            with open({str(log)!r}, "a") as f:
                f.write(name + " out\\n")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = log.read_text().split("\n")[:4]
    assert lines[0].split()[0] == lines[1].split()[0], f"the lock let both in: {lines}"
    assert [line.split()[1] for line in lines] == ["in", "out", "in", "out"]


def test_cache_imports_without_fcntl() -> None:
    """Windows has no fcntl: course_utils.cache must not need it."""
    code = "import sys; sys.modules['fcntl'] = None; import course_utils.cache, course_utils.data; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_import_course_utils_does_not_import_torch() -> None:
    code = "import sys, course_utils, course_utils.nbclean, course_utils.runner; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr


def test_cache_key_changes_with_every_setting_and_the_recipe() -> None:
    base = {"n": 100, "lr": 1e-4, "name": "x", "flag": True, "sizes": [1, 2]}
    keys = {cache_mod.cache_key(1, base), cache_mod.cache_key(2, base)}
    for name, other in {"n": 101, "lr": 2e-4, "name": "y", "flag": False, "sizes": [2, 1]}.items():
        keys.add(cache_mod.cache_key(1, {**base, name: other}))
    assert len(keys) == 7
    assert cache_mod.cache_key(1, dict(reversed(base.items()))) == cache_mod.cache_key(1, base)  # order-free
    with pytest.raises(TypeError, match="JSON values"):
        cache_mod.cache_key(1, {"device": object()})
    with pytest.raises(ValueError, match="recipe"):
        cache_mod.cache_key(0, base)


def test_cached_builds_once_validates_and_rebuilds(cache: Path) -> None:
    builds: list[Path] = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "value.txt").write_text("42")

    def valid(folder: Path) -> bool:
        return (folder / "value.txt").read_text() == "42"

    first = cache_mod.cached("answer", {"n": 1}, build, valid)
    assert first.parent == cache and first.name.startswith("answer-") and len(builds) == 1
    assert json.loads((first / cache_mod.KEY_FILE).read_text())["settings"] == {"n": 1}
    assert cache_mod.cached("answer", {"n": 1}, build, valid) == first and len(builds) == 1
    assert cache_mod.cached("answer", {"n": 2}, build, valid) != first and len(builds) == 2
    (first / "value.txt").write_text("corrupt")
    assert cache_mod.cached("answer", {"n": 1}, build, valid) == first and len(builds) == 3
    assert (first / "value.txt").read_text() == "42"
    cache_mod.cached("answer", {"n": 1}, build, valid, rebuild=True)
    assert len(builds) == 4


def test_cached_lets_real_errors_propagate(cache: Path) -> None:
    def build(folder: Path) -> None:
        (folder / "f").write_text("x")

    cache_mod.cached("thing", {}, build)

    def validate(folder: Path) -> bool:
        raise ImportError("No module named 'safetensors'")

    with pytest.raises(ImportError, match="safetensors"):
        cache_mod.cached("thing", {}, build, validate)
    assert len(list(cache.glob("thing-*"))) == 1  # the entry was not thrown away


def test_cached_failed_build_leaves_nothing(cache: Path) -> None:
    def build(folder: Path) -> None:
        (folder / "half").write_text("x")
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError):
        cache_mod.cached("thing", {}, build)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_cached_rejects_bad_names(cache: Path) -> None:
    for name in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            cache_mod.cached(name, {}, lambda folder: None)


def test_stale_temporary_folders_are_swept(tmp_path: Path) -> None:
    old = tmp_path / ".entry.tmp-abc"
    old.mkdir()
    (old / "half").write_text("x")
    young = tmp_path / ".entry.tmp-def"
    young.mkdir()
    keep = tmp_path / "entry"
    keep.mkdir()
    os.utime(old, (0, 0))
    removed = cache_mod.sweep_stale(tmp_path)
    assert removed == [old] and not old.exists() and young.exists() and keep.exists()


def test_atomic_dir_replace_mode_swaps_a_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    with cache_mod.atomic_dir(target, replace=True) as tmp:
        (tmp / "step").write_text("1")
    with cache_mod.atomic_dir(target, replace=True) as tmp:
        (tmp / "step").write_text("2")
    assert (target / "step").read_text() == "2"
    with pytest.raises(RuntimeError), cache_mod.atomic_dir(target, replace=True) as tmp:
        (tmp / "step").write_text("3")
        raise RuntimeError("crash while saving")
    assert (target / "step").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_run_dir_is_removed(tmp_path: Path) -> None:
    folder = cache_mod.run_dir("nbtest")
    (folder / "ckpt").write_text("x")
    cache_mod.remove_run_dir(folder)
    assert not folder.exists()
    with pytest.raises(ValueError, match="not made by run_dir"):
        cache_mod.remove_run_dir(tmp_path)
