"""The "Open in Colab" badge and the set-up cell every notebook starts with, generated from one place.

The course's repository URL lives in ``pyproject.toml`` (``[tool.course] repository``): the one value a
publisher sets. ``python -m course_utils.setup_cell notebooks`` (``make sync``) writes the badge into each
notebook's title cell and the set-up cell right after its ``parameters`` cell; ``make publish
REPO=https://github.com/you/course`` sets the URL first. ``course_utils.nbclean --check`` fails when a
notebook is out of step, so every notebook carries exactly the same cell.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
SETUP_MARK = "# Set-up, the same in every notebook"
# The set-up cell is shown collapsed, so a lesson starts with the lesson: JupyterLab hides its source
# (source_hidden), Colab shows only its "@title" line (a form cell); its output stays visible.
SETUP_METADATA = {"jupyter": {"source_hidden": True}, "cellView": "form"}
REPO_LINE = re.compile(r'(?m)^repository = "(.*)"$')

SETUP_TEMPLATE = '''# @title Set-up (run it first): installs what a fresh runtime lacks, then seeds and picks the device
# Set-up, the same in every notebook (course_utils/setup_cell.py writes it). Where course_utils is
# installed (a checkout, a venv, conda) it only imports. In a fresh runtime (Colab, a bare Jupyter) it first
# installs course_utils from the course's repository, then puts every package in its tested range (never torch).
import importlib.util
import os
import subprocess
import sys

COURSE_REPO = "{repo}"  # set by the publisher (make publish); COURSE_REPO_URL overrides it
if importlib.util.find_spec("course_utils") is None:
    source = os.environ.get("COURSE_REPO_URL", COURSE_REPO)
    if not (os.path.isdir(source) or "://" in source):
        raise RuntimeError(
            "course_utils is not installed and the course's repository URL is not set in this copy of the "
            "notebook: run it from a clone of the course (make lab), or set COURSE_REPO_URL to the repository."
        )
    spec = source if os.path.isdir(source) or source.startswith("file:") else f"git+{{source}}"
    print(f"course set-up: installing course_utils from {{source}} ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", spec], check=True)
    importlib.invalidate_caches()
from course_utils.bootstrap import ensure_packages

ensure_packages()
from course_utils.environment import course_seed, describe_environment, get_device, seed_everything, smoke_mode
from course_utils.outcomes import expect, record
from course_utils.practice.exercise_cells import register as register_exercise_cells

register_exercise_cells()  # an exercise cell never stops Run All (course_utils/practice/exercise_cells.py)
SMOKE = smoke_mode(SMOKE)
SEED = course_seed(SEED)  # None follows COURSE_SEED (0 when unset)
generator = seed_everything(SEED)
device = get_device()
record(device=device.type, smoke=SMOKE)
print(describe_environment(SMOKE))'''


def repository(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The course's repository URL from pyproject.toml ``[tool.course] repository`` ('' while unset)."""
    match = REPO_LINE.search(pyproject.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{pyproject} needs one line 'repository = \"...\"' under [tool.course]")
    return match.group(1).rstrip("/")


def badge(notebook_name: str, repo: str, folder: str = "notebooks") -> str:
    """The markdown of the "Open in Colab" badge of one notebook (a placeholder link while unset); ``folder`` is
    ``notebooks`` for the teacher edition, ``student`` for the student edition."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", repo)
    path = match.group(1) if match else "OWNER/REPO"
    link = f"https://colab.research.google.com/github/{path}/blob/main/{folder}/{notebook_name}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({link})"


def setup_source(repo: str) -> str:
    """The set-up cell's source for repository URL ``repo``."""
    return SETUP_TEMPLATE.format(repo=repo)


def _parameters_index(nb: Any) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"needs exactly one cell tagged 'parameters', has {len(tagged)}")
    return tagged[0]


def setup_problems(nb: Any, notebook_name: str, repo: str | None = None) -> list[str]:
    """How a notebook differs from the shared badge and set-up cell ([] when in step)."""
    repo = repository() if repo is None else repo
    found = []
    title = nb.cells[0].source if nb.cells and nb.cells[0].cell_type == "markdown" else ""
    badges = BADGE_RE.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    if badges != [badge(notebook_name, repo)] or badge(notebook_name, repo) not in title:
        found.append(f"needs one Colab badge, in the title cell, as generated (found {len(badges)}; run: make sync)")
    try:
        index = _parameters_index(nb)
    except ValueError:
        return found
    cells = nb.cells
    if index + 1 >= len(cells) or cells[index + 1].source != setup_source(repo):
        found.append("the cell after 'parameters' must be the shared set-up cell (run: make sync)")
    elif any(cells[index + 1].metadata.get(key) != value for key, value in SETUP_METADATA.items()):
        found.append("the set-up cell must be shown collapsed (source_hidden, Colab form) (run: make sync)")
    if sum(SETUP_MARK in c.source for c in cells if c.cell_type == "code") != 1:
        found.append("must have exactly one set-up cell")
    return found


def sync(path: Path, repo: str | None = None) -> bool:
    """Write the badge and the set-up cell into one notebook; True if it changed."""
    repo = repository() if repo is None else repo
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    title = nb.cells[0]
    if title.cell_type != "markdown":
        raise ValueError(f"{path}: the first cell must be the markdown title cell")
    text = BADGE_RE.sub("", title.source).strip("\n")
    lines = text.split("\n")
    title.source = re.sub(r"\n{3,}", "\n\n", "\n".join([lines[0], "", badge(path.name, repo), "", *lines[1:]]))
    index = _parameters_index(nb)
    following = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
    if following is not None and following.cell_type == "code" and (
        SETUP_MARK in following.source or "SMOKE = smoke_mode(SMOKE)" in following.source
    ):
        following.source = setup_source(repo)
    else:
        following = nbformat.v4.new_code_cell(setup_source(repo))
        nb.cells.insert(index + 1, following)
    following.metadata.update(copy.deepcopy(SETUP_METADATA))
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def set_repository(url: str, pyproject: Path = ROOT / "pyproject.toml") -> None:
    """Record the course's repository URL in pyproject.toml (``[tool.course] repository``)."""
    if not re.fullmatch(r"https://github\.com/[^/\s]+/[^/\s]+", url.rstrip("/")):
        raise ValueError(f"REPO must look like https://github.com/<owner>/<repo> (Colab opens GitHub), got {url!r}")
    text = pyproject.read_text(encoding="utf-8")
    new, count = REPO_LINE.subn(f'repository = "{url.rstrip("/")}"', text)
    if count != 1:
        raise ValueError(f"{pyproject} needs one line 'repository = \"...\"' under [tool.course]")
    pyproject.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.setup_cell [--repo URL] PATHS...``: sync badges and set-up cells."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--repo"]:
        set_repository(args[1])
        args = args[2:]
    from course_utils.nbclean import notebook_files

    files = notebook_files(args)
    for f in files:
        if sync(f):
            print(f"synced {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
