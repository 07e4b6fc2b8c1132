"""A learner's progress: which exercises passed, which are still to do, in one notebook or the whole course.

- In a notebook, the last cell calls :func:`report` on its ``exercises``: one line per verdict group
  ("3 passed, 1 failing (top_k_search), 2 not written yet (...)") and, in the teacher edition
  (``require_all=True``), an outcome check that every exercise passed. The student edition's copy of that cell
  says ``require_all=False``: a learner's unsolved or wrong exercise is reported, never a crash of Run All.
- ``python -m course_utils.practice.progress [folder]`` reads the *saved* notebooks of a folder (a learner's
  work, or the submissions an instructor collected) and prints one table for the course: notebook, passed,
  failing, not written, not run. It reads the verdict lines the checkers printed, so nothing is executed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_WRITTEN = "not written yet"
_EXERCISE_LINE = re.compile(r'exercises\["(?P<name>\w+)"\]\s*=')
_VERDICT = re.compile(r"^\[(?P<mark>PASSED|NOT YET)\] (?P<name>\w+): (?P<message>.*)$", re.MULTILINE)


@dataclass
class Progress:
    """The exercises of one notebook, by verdict."""

    passed: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    not_written: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failing) + len(self.not_written) + len(self.not_run)

    def line(self) -> str:
        """One line: counts, with the names of what is left to do."""
        parts = [f"{len(self.passed)} of {self.total} exercises passed"]
        for label, names in (("failing", self.failing), ("not written yet", self.not_written),
                             ("not run", self.not_run)):
            if names:
                parts.append(f"{len(names)} {label} ({', '.join(names)})")
        return "; ".join(parts)


def classify(results: Mapping[str, Any]) -> Progress:
    """Sort a notebook's ``exercises`` (name -> CheckResult) into passed, failing and not written."""
    progress = Progress()
    for name, result in results.items():
        if bool(getattr(result, "passed", False)):
            progress.passed.append(name)
        elif str(getattr(result, "message", "")).startswith(NOT_WRITTEN):
            progress.not_written.append(name)
        else:
            progress.failing.append(name)
    return progress


def report(results: Mapping[str, Any], require_all: bool = True) -> None:
    """Print the notebook's progress line; with ``require_all`` (teacher edition) fail unless every one passed.
    Returns nothing, so a last cell that ends with it shows no stray value (:func:`classify` gives the groups)."""
    from course_utils.outcomes import expect

    progress = classify(results)
    print(f"progress: {progress.line()}")
    if require_all:
        expect("exercises_passed", len(progress.passed), at_least=len(results))


def _text(outputs: list[dict[str, Any]]) -> str:
    chunks = []
    for output in outputs:
        if output.get("output_type") == "stream":
            chunks.append("".join(output.get("text", "")))
        elif "data" in output:
            chunks.append("".join(output["data"].get("text/plain", "")))
    return "\n".join(chunks)


def read_notebook(path: Path) -> Progress:
    """The progress saved in one executed notebook: each exercise cell's printed verdict (none: not run)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    progress = Progress()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        names = [m.group("name") for m in _EXERCISE_LINE.finditer(source)]
        verdicts = {m.group("name"): m for m in _VERDICT.finditer(_text(cell.get("outputs", [])))}
        for name in names:
            found = verdicts.get(name)
            if found is None:
                progress.not_run.append(name)
            elif found.group("mark") == "PASSED":
                progress.passed.append(name)
            elif found.group("message").startswith(NOT_WRITTEN):
                progress.not_written.append(name)
            else:
                progress.failing.append(name)
    return progress


def table(folder: Path) -> list[str]:
    """Markdown rows, one per notebook of ``folder`` with exercises, and a total."""
    files = sorted(folder.glob("*.ipynb"))
    if not files:
        raise FileNotFoundError(f"no notebooks in {folder}: point at a folder of saved .ipynb files")
    rows = ["| notebook | passed | failing | not written | not run | to do |", "|---|---:|---:|---:|---:|---|"]
    totals = [0, 0, 0, 0]
    for path in files:
        found = read_notebook(path)
        if not found.total:
            continue
        counts = [len(found.passed), len(found.failing), len(found.not_written), len(found.not_run)]
        totals = [a + b for a, b in zip(totals, counts)]
        todo = ", ".join(found.failing + found.not_written + found.not_run) or "-"
        rows.append(f"| {path.stem} | " + " | ".join(map(str, counts)) + f" | {todo} |")
    rows.append("| **course** | " + " | ".join(f"**{n}**" for n in totals) + " | |")
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.practice.progress [folder]`` (default: student/)."""
    parser = argparse.ArgumentParser(description="A table of the exercises passed in a folder of saved notebooks")
    parser.add_argument("folder", nargs="?", type=Path, default=Path("student"))
    args = parser.parse_args(argv)
    try:
        print("\n".join(table(args.folder)))
    except (FileNotFoundError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
