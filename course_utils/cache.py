"""The cache folder, atomic writes, and :func:`cached`: the one way a course artifact is built and reused.

Generated artefacts (a converted model, a trained tokenizer, a fine-tuned classifier, a parsed corpus) are
cached so later notebooks get them in a second. Every one goes through :func:`cached`, which

- names the entry by a hash of *every setting that changes the result* plus a recipe version, so changing a
  setting (or the recipe) can never return a stale artifact;
- holds a cross-platform lock (the ``filelock`` library) so parallel notebooks build an entry once;
- builds into a temporary folder renamed into place only when complete, so a crash or Ctrl-C never leaves a
  half entry; a complete entry that its validator rejects is removed and rebuilt;
- sweeps temporary folders that killed builds left behind, once they are older than any build could take;
- says what it is about to build, and roughly how long it takes, before it starts.

Validators return False for what corruption looks like (a missing or truncated file, bad JSON) and let every
other exception (an ImportError, out of memory) propagate: a real error must never turn into a silent rebuild.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from course_utils.errors import CacheDirError
from course_utils.validation import describe, require_bool, require_positive_int, require_str

CACHE_ENV = "COURSE_CACHE_DIR"
KEY_FILE = "course_cache_key.json"
STALE_SECONDS = 6 * 3600  # a temporary build folder older than this is debris of a killed build
_REPO_DATA = Path(__file__).resolve().parent.parent / "data"
_swept: set[Path] = set()


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
    if path not in _swept:
        _swept.add(path)
        sweep_stale(path)
    return path


def sweep_stale(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove ``.NAME.tmp-*`` / ``.NAME.trash-*`` folders and files older than ``older_than`` seconds.

    Killed builds leave them (never a half entry, but wasted disk). Younger ones may belong to a build that
    is running right now in another process, so they are kept. Returns what was removed.
    """
    removed = []
    now = time.time()
    for path in Path(folder).glob(".*"):
        if ".tmp-" not in path.name and ".trash-" not in path.name:
            continue
        try:
            if now - path.stat().st_mtime < older_than:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except FileNotFoundError:  # another process swept it first
            continue
    return removed


def cache_key(recipe: int, settings: Mapping[str, Any]) -> str:
    """A short, stable hash of ``settings`` (JSON-able values) and the ``recipe`` version."""
    recipe = require_positive_int("recipe", recipe, example="1 (bump it when the build changes)")
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict of the values that change the result, got {describe(settings)}")
    try:
        text = json.dumps({"recipe": recipe, "settings": dict(settings)}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cache settings must be JSON values (str, int, float, bool, None, lists): {exc}") from exc
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cached(
    name: str,
    settings: Mapping[str, Any],
    build: Callable[[Path], object],
    validate: Callable[[Path], bool] | None = None,
    *,
    recipe: int = 1,
    sub: str | None = None,
    rebuild: bool = False,
    about: str = "",
) -> Path:
    """Return the cache folder of artifact ``name`` built with ``settings``, building it once if needed.

    ``build(folder)`` writes the artifact into an empty temporary folder; it is renamed into place only when
    ``build`` returns. ``validate(folder)`` says whether an existing complete entry is usable (False means
    corrupt: it is removed and rebuilt; exceptions propagate). ``recipe`` is the version of the build code:
    bump it when the code changes what it produces. ``about`` ("about 60 s on a laptop CPU") is printed with
    the one line announcing a build. ``rebuild=True`` forces a new build.
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"cache entry name must be a plain folder name such as 'tokenizer', got {name!r}")
    for what, function in (("build", build), ("validate", validate)):
        if function is not None and not callable(function):
            raise TypeError(f"{what} must be a function of the entry's folder, got {describe(function)}")
    rebuild = require_bool("rebuild", rebuild)
    key = cache_key(recipe, settings)
    target = cache_dir(sub) / f"{name}-{key}"
    with FileLock(str(target.with_name(f".{target.name}.lock"))):
        if target.exists() and (rebuild or not is_complete(target) or (validate and not validate(target))):
            remove_entry(target)
        if not target.exists():
            print(f"building {name} once{f' ({about})' if about else ''}; cached in {target}", flush=True)
            start = time.perf_counter()
            with atomic_dir(target) as tmp:
                build(tmp)
                record = {"name": name, "recipe": recipe, "settings": dict(settings)}
                (tmp / KEY_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            print(f"built {name} in {time.perf_counter() - start:.1f} s", flush=True)
    return target


@contextlib.contextmanager
def atomic_dir(target: Path, replace: bool = False) -> Iterator[Path]:
    """Build a folder at a temporary path and rename it to ``target`` only if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and ``target`` is left as
    it was. If ``target`` already exists: with ``replace=False`` (cache entries) a complete one is kept and
    ours discarded (another process finished first); with ``replace=True`` (checkpoints updated in place)
    the old folder is moved aside and deleted only after the new one is in place.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        (tmp / ".complete").write_text("ok\n")
        if replace and target.exists():
            old = target.with_name(f".{target.name}.trash-{os.getpid()}-{time.monotonic_ns()}")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
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
    trash = entry.with_name(f".{entry.name}.trash-{os.getpid()}-{time.monotonic_ns()}")
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
def file_lock(path: Path, timeout: float = -1) -> Iterator[None]:
    """Hold an exclusive, cross-platform lock on ``path`` (``filelock``): one process at a time gets in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout):
        yield


_run_dirs: list[tempfile.TemporaryDirectory[str]] = []


def run_dir(prefix: str) -> Path:
    """A temporary folder for one notebook run's checkpoints and Trainer output, removed when the kernel exits.

    (Or earlier with :func:`remove_run_dir`.) Nothing a run writes there is meant to outlive it; artifacts
    worth keeping go through :func:`cached`.
    """
    require_str("prefix", prefix, non_empty=True)
    handle = tempfile.TemporaryDirectory(prefix=f"{prefix}-", ignore_cleanup_errors=True)
    _run_dirs.append(handle)  # alive until the kernel exits; its finalizer then deletes the folder
    return Path(handle.name)


def remove_run_dir(path: Path) -> None:
    """Delete a folder made by :func:`run_dir` now (at the end of a notebook)."""
    for handle in list(_run_dirs):
        if Path(handle.name) == Path(path):
            handle.cleanup()
            _run_dirs.remove(handle)
            return
    raise ValueError(f"{path} was not made by run_dir()")
