"""The cache folder and atomic writes.

Generated artefacts (a converted model, a trained tokenizer, a fine-tuned classifier) are cached so later
notebooks get them in a second. A cache entry is written to a temporary name next to its final place and
renamed into place only when complete, so a crash or Ctrl-C mid-write never leaves a half entry behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from course_utils.errors import CacheDirError

CACHE_ENV = "COURSE_CACHE_DIR"
_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def cache_dir(sub: str | None = None) -> Path:
    """Return the (created, writable) cache folder, or ``sub`` inside it.

    ``COURSE_CACHE_DIR`` overrides the default, which is ``data/cache`` in a checkout of the course and
    ``~/.cache/course_utils`` when the package is installed elsewhere (e.g. Colab).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        root = Path(env).expanduser()
    elif (_REPO_DATA / "README.md").exists():
        root = _REPO_DATA / "cache"
    else:
        root = Path.home() / ".cache" / "course_utils"
    path = root / sub if sub else root
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise CacheDirError(
            f"cache folder {path} is not writable ({exc.strerror or exc}). "
            f"Point {CACHE_ENV} at a folder you can write, e.g. export {CACHE_ENV}=/tmp/course-cache"
        ) from exc
    return path


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Build a folder at a temporary path and rename it to ``target`` only if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and ``target`` is left as
    it was. If another process finished the same entry first, its copy is kept and ours discarded.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        (tmp / ".complete").write_text("ok\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_complete(entry: Path) -> bool:
    """True if ``entry`` is a cache folder written completely by :func:`atomic_dir`."""
    return (Path(entry) / ".complete").is_file()


def remove_entry(entry: Path) -> None:
    """Delete a cache folder (e.g. one found broken), atomically from the point of view of readers."""
    entry = Path(entry)
    if not entry.exists():
        return
    trash = entry.with_name(f".{entry.name}.trash-{os.getpid()}")
    os.rename(entry, trash)
    shutil.rmtree(trash, ignore_errors=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_torch_save(obj: object, path: Path) -> Path:
    """``torch.save`` that never leaves a truncated checkpoint: temp file + rename."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing), so parallel notebooks build an entry once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
