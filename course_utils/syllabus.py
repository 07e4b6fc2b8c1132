"""The README's syllabus table, kept true: study time and prerequisites from each notebook, run time from a bench.

A number typed in two places drifts (04's run time was "about 3 min" in its header, 54 s in the README and 76 s
when measured). So each fact has one home, and the README's table is generated from them:

- **study time** and **prerequisites**: the ``**Time:**`` and ``**Prerequisites:**`` lines of the notebook's
  first cell (the teacher edition in ``notebooks/``), which a learner reads there too;
- **run time**: ``notebooks/run_times.json``, which ``make bench`` rewrites from its measurements (the seconds of
  the notebook's whole default-mode run, per device kind, with the machine and the date).

``python -m course_utils.syllabus`` rewrites the README's table (the columns it owns: prerequisites, study and
run time; the lesson's name and "you will learn" stay as written there) and ``--check`` (in ``make lint``) fails
when the README is out of step.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
RUN_TIMES = NOTEBOOKS / "run_times.json"
HEADER = ("#", "notebook", "you will learn", "needs", "study", "run (CPU)")
_TIME = re.compile(r"\*\*Time:?\*\*:?\s*(?:about\s+)?(\d+)(?:\s*[–-]\s*(\d+))?\s*minutes")
_PREREQUISITES = re.compile(r"\*\*Prerequisites?:?\*\*:?\s*(.+?)(?=\*\*Time|\n\n|$)", re.S)
_NUMBER = re.compile(r"\b(\d\d[a-z]?)\b")
_RANGE = re.compile(r"\b(\d\d[a-z]?)\s*[–-]\s*(\d\d[a-z]?)\b")


class SyllabusError(ValueError):
    """A notebook header or the README table cannot be read the way the syllabus needs."""


@dataclass(frozen=True)
class Lesson:
    """What the syllabus says about one notebook."""

    number: str  # "03b"
    stem: str  # "03b_data_utils"
    minutes: tuple[int, int]  # study time, low and high (equal when the header gives one number)
    prerequisites: str  # "01, 02" or the knowledge it needs ("basic Python")


def lesson(path: Path, order: list[str]) -> Lesson:
    """Read ``path``'s first cell: its study time and prerequisites (``order``: every notebook number, in order,
    to expand a range such as "01-03b")."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    header = "".join(cells[0]["source"]) if cells else ""
    time, needs = _TIME.search(header), _PREREQUISITES.search(header)
    if time is None or needs is None:
        missing = "a **Time:** about N minutes line" if time is None else "a **Prerequisites:** line"
        raise SyllabusError(f"{path.name}: its first cell needs {missing} (the README's syllabus is built from it)")
    low = int(time[1])
    return Lesson(path.name.split("_")[0], path.stem, (low, int(time[2] or low)),
                  _short_prerequisites(" ".join(needs[1].split()), order))


def _short_prerequisites(text: str, order: list[str]) -> str:
    """The notebooks a header names, ranges expanded ("notebooks 01-03b (tensors ...)" -> "01, 02, 03a, 03b"),
    followed by any knowledge beyond them ("; derivatives ..."); the text itself when it names no notebook."""
    numbers: list[str] = []
    for low, high in _RANGE.findall(text):
        if low in order and high in order:
            numbers += order[order.index(low): order.index(high) + 1]
    numbers += [n for n in _NUMBER.findall(_RANGE.sub("", text)) if n in order]
    if not numbers:
        return text.rstrip(".")
    shown = ", ".join(sorted(set(numbers), key=order.index))
    beyond = text.split(";", 1)[1].strip().rstrip(".") if ";" in text else ""
    return f"{shown}; {beyond}" if beyond else shown


def lessons(folder: Path = NOTEBOOKS) -> list[Lesson]:
    """Every notebook of ``folder``, in course order."""
    paths = sorted(folder.glob("[0-9][0-9]*.ipynb"))
    order = [p.name.split("_")[0] for p in paths]
    return [lesson(p, order) for p in paths]


def load_run_times(path: Path = RUN_TIMES) -> dict[str, Any]:
    """``run_times.json``: ``{"cpu": {stem: seconds}, "gpu": {stem: seconds}, "measured": {key: how}}``, where a
    key is the stem (CPU) or ``gpu:<stem>`` and "how" the machine and date (:func:`measured_on`)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"measured": {}, "cpu": {}, "gpu": {}}
    if not isinstance(data, dict) or not isinstance(data.get("cpu"), dict) or not isinstance(
        data.get("measured", {}), dict
    ):
        raise SyllabusError(f"{path} is not a run-times file: rerun make bench (or restore it from git)")
    return data


def record_run_times(results: list[Any], measured: str, path: Path = RUN_TIMES) -> list[str]:
    """Store the seconds of each notebook that ran ``ok`` at default size (``runner.NotebookResult`` rows) under
    its device kind; returns the stems stored. Rows of a smoke run must not be passed."""
    from course_utils.cache import atomic_write_bytes

    data = load_run_times(path)
    stored = []
    for row in results:
        if row.status != "ok":
            continue
        kind = "gpu" if str(row.device).startswith("cuda") else "cpu" if row.device == "cpu" else None
        if kind is None:  # mps and the unknown: not what the table reports
            continue
        stem = Path(row.notebook).stem
        data.setdefault(kind, {})[stem] = round(float(row.seconds), 1)
        data.setdefault("measured", {})[stem if kind == "cpu" else f"gpu:{stem}"] = measured
        stored.append(stem)
    if stored:
        atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return stored


def measured_on() -> str:
    """Where and when: "make bench, 2026-12-05, AMD EPYC, 2 cores, 23 GiB" (what the table's numbers depend on)."""
    import os
    import platform
    import time

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    from course_utils.cpu import available_cores

    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB"
    return f"make bench, {time.strftime('%Y-%m-%d')}, {model}, {available_cores()} cores{memory}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _study(minutes: tuple[int, int]) -> str:
    low, high = minutes
    return f"{low} min" if low == high else f"{low}–{high} min"


def study_hours(all_lessons: list[Lesson]) -> float:
    """The course's study time in hours (a range counts as its middle)."""
    return sum((low + high) / 2 for low, high in (item.minutes for item in all_lessons)) / 60


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (a pipe inside backticks is not a separator: none of ours has one)."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def render(readme: str, all_lessons: list[Lesson], run_times: dict[str, Any]) -> str:
    """``readme`` with its syllabus table's generated columns and the totals line rewritten."""
    lines = readme.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if tuple(_cells(line)) == HEADER)
    except StopIteration:
        raise SyllabusError(f"README.md has no syllabus table with the header | {' | '.join(HEADER)} |") from None
    by_number = {item.number: item for item in all_lessons}
    row = start + 2
    seen = []
    while row < len(lines) and lines[row].startswith("|"):
        cells = _cells(lines[row])
        item = by_number.get(cells[0])
        if item is None:
            raise SyllabusError(f"README.md's syllabus lists {cells[0]!r}, which is not a notebook in notebooks/")
        cells[3:] = [item.prerequisites, _study(item.minutes), _duration(run_times.get("cpu", {}).get(item.stem))]
        lines[row] = "| " + " | ".join(cells) + " |"
        seen.append(item.number)
        row += 1
    missing = [n for n in by_number if n not in seen]
    if missing:
        raise SyllabusError(f"README.md's syllabus has no row for notebook(s) {', '.join(missing)}: add one")
    cpu = run_times.get("cpu", {})
    total = sum(cpu.get(item.stem, 0.0) for item in all_lessons)
    how: dict[str, list[str]] = {}
    for item in all_lessons:
        if item.stem in cpu:
            how.setdefault(run_times.get("measured", {}).get(item.stem, "not recorded how"), []).append(item.number)
    sources = "; ".join(f"{', '.join(numbers)}: {label}" if len(how) > 1 else label for label, numbers in how.items())
    measured = sum(item.stem in cpu for item in all_lessons)
    summary = (f"*Study*: about {study_hours(all_lessons):.0f} hours in all, exercises included. *Run (CPU)*: the "
               f"machine time of the notebook's whole default run ({sources or 'none measured yet'}); the "
               f"{measured} measured take {total / 60:.0f} min in all. `make bench` measures your machine and "
               "rewrites these numbers.")
    gpu = run_times.get("gpu") or {}
    summary += (" On a GPU: " + ", ".join(f"{stem.split('_')[0]} {_duration(s)}" for stem, s in sorted(gpu.items()))
                + "." if gpu else " No GPU run has been measured yet.")
    if row < len(lines) - 1 and lines[row] == "" and lines[row + 1].startswith("*Study*"):
        lines[row + 1] = summary
    else:
        lines[row:row] = ["", summary]
    text = "\n".join(lines) + ("\n" if readme.endswith("\n") else "")
    # The first screen's study time ("about 18 hours of study") is the same sum.
    return re.sub(r"about \d+ hours of study", f"about {study_hours(all_lessons):.0f} hours of study", text)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.syllabus [--check]``: rewrite (or check) the README's syllabus table."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        current = README.read_text(encoding="utf-8")
        wanted = render(current, lessons(), load_run_times())
    except SyllabusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if "--check" in args:
        if wanted != current:
            print("README.md's syllabus is out of step with the notebooks or run_times.json: run "
                  "python -m course_utils.syllabus", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted, encoding="utf-8")
        print("rewrote README.md's syllabus table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
