"""The instructor kit's pages (built by ``make site``): teaching notes per lesson and a schedule.

Nothing here is written twice: a lesson's outcomes come from its title cell, prerequisites and study time from
the syllabus (``course_utils.syllabus``), run times from ``notebooks/run_times.json`` and the run the site
shows, the live-demo cells from the slides' marks (``course_utils.slides``), the knobs that make a run faster
from its ``parameters`` cell, and the mistakes each exercise diagnoses from its checker's own hints (read from
``course_utils/practice/checks/nb<NN>.py`` without importing it, so the site needs no torch).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import nbformat

from course_utils import syllabus

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "course_utils" / "practice" / "checks"
TERM_WEEKS = 12
WORKSHOP_DAYS = 5
WORKSHOP_DAY_MINUTES = 6 * 60


def link(href: str, text: str) -> str:
    """A plain HTML link (course_utils.website.link): slides are files, not pages Sphinx builds."""
    from course_utils.website import link as html_link

    return html_link(href, text)


def outcomes(nb: nbformat.NotebookNode) -> list[str]:
    """The learning outcomes: the bullet list of the title cell."""
    items: list[str] = []
    for line in nb.cells[0].source.splitlines():
        if re.match(r"\s*[-*]\s+\S", line):
            items.append(line.strip()[1:].strip())
        elif items and line.startswith("  ") and line.strip():  # a continuation line of the last item
            items[-1] += " " + line.strip()
        elif not line.strip() and items:
            items.append("")
    return [item for item in items if item]


def _text(node: ast.AST) -> str | None:
    """A string literal or f-string as text (an f-string's holes shown as ...)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "..." for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.IfExp):
        return _text(node.body)
    return None


def checker_hints(prefix: str, checks: Path = CHECKS) -> dict[str, list[str]]:
    """``{exercise: [hint, ...]}`` of one notebook, read from its checkers' source: the hints they pass to
    ``fail(...)`` and assign to ``hint``: the mistakes each checker diagnoses."""
    path = checks / f"nb{prefix}.py"
    if not path.is_file():
        return {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        names = [d.args[1].value for d in node.decorator_list if isinstance(d, ast.Call) and len(d.args) == 2
                 and isinstance(d.args[1], ast.Constant)]
        if not names:
            continue
        hints: list[str] = []
        for inner in ast.walk(node):
            candidates: list[ast.AST] = []
            if isinstance(inner, ast.Call) and getattr(inner.func, "id", "") == "fail":
                candidates += inner.args[3:4] + [k.value for k in inner.keywords if k.arg == "hint"]
            elif isinstance(inner, ast.Assign) and any(getattr(t, "id", "") == "hint" for t in inner.targets):
                candidates.append(inner.value)
            for candidate in candidates:
                text = _text(candidate)
                if text and len(text) > 12 and text not in hints:
                    hints.append(" ".join(text.split()))
        found[str(names[0])] = hints
    return found


def knobs(nb: nbformat.NotebookNode) -> list[str]:
    """The lines of the ``parameters`` cell: the sizes an instructor can turn down when a run is slow."""
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            return [line for line in cell.source.splitlines() if re.match(r"[A-Z_]+\s*=", line)]
    return []


def demo_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The code cells the slides show (the live demo), as their first line, with the section they sit in."""
    from course_utils.slides import mark

    section, found = "", []
    for cell in mark(nb).cells:
        if cell.cell_type == "markdown" and (heading := re.match(r"#{1,3}\s+(.+)", cell.source)):
            section = heading.group(1).strip()
        elif cell.cell_type == "code" and cell.metadata["slideshow"]["slide_type"] != "skip":
            first = next((ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            found.append(f"{section}: `{first.strip()[:80]}`")
    return found


def _minutes(lesson: syllabus.Lesson | None) -> int:
    return (lesson.minutes[0] + lesson.minutes[1]) // 2 if lesson else 60


def notes_markdown(page: Any, nb: nbformat.NotebookNode, lesson: syllabus.Lesson | None,
                   run_times: dict[str, Any]) -> str:
    """The teaching notes of one lesson."""
    prefix = page.stem.split("_")[0]
    cpu, gpu = run_times.get("cpu", {}).get(page.stem), run_times.get("gpu", {}).get(page.stem)
    shown = page.stamp
    lines = [f"# Teaching notes: {page.label}", "",
             f"[Lesson page](../lessons/{page.stem}.ipynb) · {link(f'../slides/{page.stem}.html', 'slides')}", "",
             "## Learning outcomes", *([f"- {o}" for o in outcomes(nb)] or ["- (see the lesson's introduction)"]), "",
             "## Before class",
             f"- Prerequisites: {lesson.prerequisites if lesson else 'see the lesson'}",
             f"- Study time: about {_minutes(lesson)} minutes",
             f"- Default run on a 2-core CPU: {f'{cpu:.0f} s' if cpu else 'not measured yet (make bench)'}; "
             f"on a GPU: {f'{gpu:.0f} s' if gpu else 'not measured yet'}",
             f"- The run on this site: {shown.get('seconds', '?')} s on {shown.get('device', '?')}, "
             f"{'smoke' if shown.get('smoke') else 'default'} mode", "",
             "## Live demo (the cells the slides show)", *([f"- {d}" for d in demo_cells(nb)] or ["- (none)"]), "",
             "## Exercises and the mistakes their checkers diagnose"]
    for exercise, hints in checker_hints(prefix).items():
        lines.append(f"- **{exercise}**")
        lines += [f"  - {h}" for h in hints[:6]] or ["  - (the checker compares with the reference)"]
    lines += ["", "## When a run is slow",
              "- Run it in smoke mode first (`SMOKE = True` in the parameters cell): every code path in seconds.",
              "- Or turn these knobs down (the parameters cell):", *[f"  - `{k}`" for k in knobs(nb)],
              "- On Colab pick a GPU runtime: notebooks with GPU sizes use it on their own.", ""]
    return "\n".join(lines)


def split(minutes: list[int], parts: int) -> list[list[int]]:
    """Indexes of ``minutes`` in order, cut into at most ``parts`` contiguous groups of balanced total."""
    total = sum(minutes)
    target = total / parts
    groups: list[list[int]] = [[]]
    done = 0
    for index, value in enumerate(minutes):
        left_items, left_groups = len(minutes) - index, parts - len(groups) + 1
        if groups[-1] and len(groups) < parts and (done + value / 2 > target * len(groups) or left_items
                                                    <= left_groups - 1):
            groups.append([])
        groups[-1].append(index)
        done += value
    return groups


def schedule_markdown(pages: list[Any], lessons: dict[str, syllabus.Lesson]) -> str:
    """The course as a 12-week term and as a 5-day workshop, with the time per lesson."""
    minutes = [_minutes(lessons.get(p.stem)) for p in pages]
    lines = ["# Schedule", "", f"Study time in all: about {sum(minutes) / 60:.0f} hours (the syllabus' estimates).",
             "", f"## A {TERM_WEEKS}-week term", "", "| week | lessons | study |", "|---|---|---|"]
    for week, group in enumerate(split(minutes, TERM_WEEKS), start=1):
        names = ", ".join(f"[{pages[i].label}](../lessons/{pages[i].stem}.ipynb)" for i in group)
        lines.append(f"| {week} | {names} | {sum(minutes[i] for i in group)} min |")
    days = max(WORKSHOP_DAYS, -(-sum(minutes) // WORKSHOP_DAY_MINUTES))
    lines += ["", f"## A {WORKSHOP_DAYS}-day workshop", "",
              f"About {WORKSHOP_DAY_MINUTES // 60} hours a day; learners finish exercises as homework where a "
              "day runs long.", "", "| day | lessons | study |", "|---|---|---|"]
    for day, group in enumerate(split(minutes, min(days, WORKSHOP_DAYS)), start=1):
        names = ", ".join(f"{pages[i].number}" for i in group)
        lines.append(f"| {day} | {names} | {sum(minutes[i] for i in group) / 60:.1f} h |")
    return "\n".join(lines) + "\n"


def write_kit(pages: list[Any], lessons: dict[str, syllabus.Lesson], dest: Path) -> list[Path]:
    """Write the instructor pages (index, notes per lesson, schedule) into ``dest``; returns them."""
    dest.mkdir(parents=True, exist_ok=True)
    run_times = syllabus.load_run_times()
    written = []
    for page in pages:
        nb = nbformat.read(page.executed, as_version=4)
        path = dest / f"{page.stem}.md"
        path.write_text(notes_markdown(page, nb, lessons.get(page.stem), run_times), encoding="utf-8")
        written.append(path)
    (dest / "schedule.md").write_text(schedule_markdown(pages, lessons), encoding="utf-8")
    toc = "\n".join(["schedule", *(p.stem for p in pages)])
    slides = "\n".join(f"- {link(f'../slides/{p.stem}.html', p.label)}" for p in pages)
    (dest / "index.md").write_text(f"""# For instructors

The kit for teaching this course live: a [schedule](schedule.md) for a 12-week term or a 5-day workshop,
teaching notes per lesson (outcomes, run times, the live-demo cells, the mistakes each exercise's checker
diagnoses, what to do when a run is slow) and a slide deck per lesson (reveal.js, offline: arrow keys to move,
`S` for speaker notes, `F` for full screen). The slides show the cells marked for projection in each notebook's
metadata (`slideshow.slide_type`, editable in JupyterLab's property inspector), never a solution.

## Slides
{slides}

```{{toctree}}
:maxdepth: 1

{toc}
```
""", encoding="utf-8")
    return [*written, dest / "schedule.md", dest / "index.md"]
