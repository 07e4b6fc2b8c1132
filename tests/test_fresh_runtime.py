"""The Colab path, proved: a fresh environment with only what a Colab runtime ships runs notebooks unchanged.

A new virtual environment gets python, torch, torchvision, transformers, datasets, tokenizers, matplotlib,
ipykernel and papermill, nothing of the course; and, as in a Colab runtime of late 2025, *older* transformers,
datasets and peft than the course supports (``OLD``). Notebooks copied to a folder outside the checkout run
there through papermill with ``COURSE_REPO_URL`` pointing at a copy of the repository: their set-up cell must
install course_utils, put the old packages and the missing ones at the locked versions, in the same kernel,
without a restart. A copy of a notebook without its
set-up cell must fail. Minutes of work: it runs only with ``COURSE_FRESH_RUNTIME=1`` (``make fresh``, CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_utils.setup_cell import SETUP_MARK

ROOT = Path(__file__).resolve().parent.parent
COLAB_SHIPS = ["torch", "torchvision", "transformers", "datasets", "tokenizers", "matplotlib", "ipykernel", "papermill"]
NOTEBOOKS = ["01_tensors.ipynb", "07_fine_tuning.ipynb", "10b_vanilla_transformer.ipynb"]  # 01, 07, translation
# Versions a Colab runtime shipped that are older than the course's floors (peft 0.17 beside transformers 5 fails
# with "cannot import name 'HybridCache'"): installed into the fresh venv over the linked ones.
OLD = {"transformers": "4.57.6", "datasets": "4.4.2", "peft": "0.17.1"}

pytestmark = [
    pytest.mark.fresh,
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not os.environ.get("COURSE_FRESH_RUNTIME"), reason="set COURSE_FRESH_RUNTIME=1 (make fresh)"),
]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}):\n{output}")
    return proc


def _closure(names: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need: their dependency closure, markers and extras evaluated."""
    seen: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo = [(name, "") for name in names]
    while todo:
        raw, extra = todo.pop()
        name = canonicalize_name(raw)
        if (name, extra) in done:
            continue
        done.add((name, extra))
        try:
            dist = seen.get(name) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here
        seen[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                if req.marker is not None and "extra" in str(req.marker) and not extra:
                    continue  # belongs to an extra nobody asked for
                todo += [(req.name, "")] + [(req.name, wanted) for wanted in req.extras]
    return list(seen.values())


def _colab_site(folder: Path) -> int:
    """Link the files of Colab's packages (and only those) into ``folder``; returns how many distributions."""
    folder.mkdir()
    dists = _closure(COLAB_SHIPS)
    for dist in dists:
        for entry in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(str(dist.locate_file(entry)))
            if source.exists() and not (folder / entry).exists() and entry != "__pycache__":
                (folder / entry).symlink_to(source)
    return len(dists)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh venv that sees only Colab's packages (the ones installed here, linked in), and a repo copy.

    Installing torch again would copy 5 GB; linking the installed distributions gives the same runtime a
    learner's Colab has: those packages and nothing of the course.
    """
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The folder's name matters: dill (datasets' fingerprints) pickles a module by reference only when its path
    # looks installed (under sys.prefix or a "site-packages" folder), as Colab's /usr/local/.../dist-packages is.
    # A folder named "colab-site" made it pickle pyarrow by value and fail (PicklingError: MonthDayNano).
    linked = base / "colab" / "site-packages"
    linked.parent.mkdir()
    count = _colab_site(linked)
    (site / "colab_runtime.pth").write_text(str(linked) + "\n")
    old = [f"{name}=={version}" for name, version in OLD.items()]
    _run([str(python), "-m", "pip", "install", "-q", *old])  # with their own old dependencies, as Colab had them
    probe = "import torch, papermill, importlib.util as u; print(u.find_spec('course_utils'))"
    assert _run([str(python), "-c", probe], cwd=base).stdout.strip() == "None"  # not from the checkout's cwd
    print(f"fresh runtime: {count} distributions (Colab's packages and their dependencies)")
    repo = base / "course-repo"
    listed = _run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    for name in listed:
        if name.startswith(("course_utils/", "pyproject.toml", "README.md")) and (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    work = base / "learner"
    work.mkdir()
    return {"python": python, "repo": repo, "work": work, "cache": base / "cache"}


def _locked(dist: str) -> str:
    from course_utils import lock, pinned

    return str(lock.pick(pinned.LOCKED[dist]))


def _papermill(runtime: dict[str, Path], notebook: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = notebook.with_name("out-" + notebook.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "COURSE_"))}
    env.update(
        COURSE_REPO_URL=str(runtime["repo"]),
        COURSE_CACHE_DIR=str(runtime["cache"]),
        COURSE_SMOKE="1",
        HF_HUB_OFFLINE="1",
        PATH=f"{runtime['python'].parent}{os.pathsep}{env.get('PATH', '')}",
    )
    cmd = [str(runtime["python"]), "-m", "papermill", str(notebook), str(out), "-k", "python3", "--cwd",
           str(notebook.parent), "-p", "SMOKE", "True", "--log-output", "--no-progress-bar"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=runtime["work"], timeout=1200)
    return proc, out


def test_a_notebook_without_its_set_up_cell_fails(runtime: dict[str, Path]) -> None:
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOKS[0], as_version=4)
    nb.cells = [c for c in nb.cells if SETUP_MARK not in c.source]
    path = runtime["work"] / "no-setup.ipynb"
    nbformat.write(nb, path)
    proc, _ = _papermill(runtime, path)
    assert proc.returncode != 0, "without the set-up cell the notebook must fail in a fresh runtime"
    assert "course_utils" in proc.stdout + proc.stderr or "NameError" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_a_fresh_runtime(runtime: dict[str, Path], name: str) -> None:
    source = ROOT / "notebooks" / name
    if not source.is_file():
        pytest.fail(f"{name} is missing from notebooks/")
    notebook = runtime["work"] / name
    shutil.copy2(source, notebook)
    start = time.perf_counter()
    proc, out = _papermill(runtime, notebook)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, f"{name} failed in the fresh runtime:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    executed = json.loads(out.read_text())
    setup = next(c for c in executed["cells"] if SETUP_MARK in "".join(c["source"]))
    text = "".join("".join(o.get("text", "")) for o in setup.get("outputs", []))
    print(f"{name}: ok in {seconds:.0f} s; set-up cell said: {text.strip()[:1500]!r}")
    code = "import course_utils; print(course_utils.__file__)"
    where = _run([str(runtime["python"]), "-c", code], cwd=runtime["work"]).stdout
    assert str(runtime["python"].parent.parent) in where, f"course_utils imported from {where}, not the fresh venv"
    if name == NOTEBOOKS[0]:
        assert "installing course_utils" in text, text
        for dist, version in OLD.items():  # each old package named, and replaced by the locked version
            assert f"{dist} {version} -> {_locked(dist)} (outside" in text, text
    for dist in OLD:
        probe = f"from importlib.metadata import version; print(version('{dist}'))"
        assert _run([str(runtime["python"]), "-c", probe], cwd=runtime["work"]).stdout.strip() == _locked(dist)
    for tool in ("jupyterlab", "pytest", "ruff"):
        probe = [str(runtime["python"]), "-c", f"import importlib.util as u; print(u.find_spec('{tool}') is None)"]
        assert _run(probe, cwd=runtime["work"]).stdout.strip() == "True", f"the set-up cell installed {tool}"
