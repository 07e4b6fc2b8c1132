"""The README's syllabus: study time and prerequisites come from the notebooks, run times from the last bench,
and the README is in step with both (course_utils.syllabus)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from course_utils import syllabus

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_syllabus_is_in_step_with_the_notebooks_and_the_bench() -> None:
    readme = syllabus.README.read_text(encoding="utf-8")
    assert syllabus.render(readme, syllabus.lessons(), syllabus.load_run_times()) == readme


def test_the_readme_starts_with_the_learner() -> None:
    """The first screen: what it is, then 'Start here' (who, how long, where to begin, one click, one command)
    before any maintainer material; the make targets beyond lab/test/run live in CONTRIBUTING.md."""
    readme = syllabus.README.read_text(encoding="utf-8")
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Start here", "## Syllabus"]
    start = readme.split("## Start here", 1)[1].split("\n## ", 1)[0]
    for fragment in ("**Who it is for**", "**How long**", "hours", "**Where to begin**", "Colab", "make lab"):
        assert fragment in start
    for maintainer in ("make floor", "make canary", "make lock", "make publish", "make hooks"):
        assert maintainer not in readme.split("## For instructors", 1)[0], maintainer
        assert maintainer in (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


def test_study_time_and_prerequisites_are_read_from_each_notebook(tmp_path: Path) -> None:
    def notebook(name: str, header: str) -> None:
        cells = [{"cell_type": "markdown", "metadata": {}, "source": [header]}]
        (tmp_path / name).write_text(json.dumps({"cells": cells}), encoding="utf-8")

    notebook("01_a.ipynb", "# 01\n\n**Prerequisites:** basic Python. **Time:** about 45 minutes.")
    notebook("02_b.ipynb", "# 02\n\n**Prerequisites**: 01; the chain rule.\n**Time**: 45–60 minutes with exercises.")
    notebook("03a_c.ipynb", "**Prerequisites:** notebooks 01-02 (tensors, autograd). **Time:** about 70 minutes")
    found = syllabus.lessons(tmp_path)
    assert [(x.number, x.minutes, x.prerequisites) for x in found] == [
        ("01", (45, 45), "basic Python"),
        ("02", (45, 60), "01; the chain rule"),
        ("03a", (70, 70), "01, 02"),
    ]
    assert syllabus.study_hours(found) == pytest.approx((45 + 52.5 + 70) / 60)
    notebook("04_d.ipynb", "# 04 with no time line\n\n**Prerequisites:** 03a.")
    with pytest.raises(syllabus.SyllabusError, match=r"04_d.ipynb: its first cell needs a \*\*Time:\*\*"):
        syllabus.lessons(tmp_path)


README = """# Course

Study: about 9 hours of study.

| # | notebook | you will learn | needs | study | run (CPU) |
|---|---|---|---|---:|---:|
| 01 | [A](a) | things |  |  |  |
| 02 | [B](b) | more | old | 1 min | 99 s |

After.
"""


def test_render_fills_the_generated_columns_and_keeps_the_written_ones() -> None:
    lessons = [syllabus.Lesson("01", "01_a", (45, 45), "basic Python"), syllabus.Lesson("02", "02_b", (60, 75), "01")]
    times = {"measured": {"01_a": "make bench, today", "02_b": "make bench, today"},
             "cpu": {"01_a": 6.2, "02_b": 131.0}}
    out = syllabus.render(README, lessons, times)
    assert "| 01 | [A](a) | things | basic Python | 45 min | 6 s |" in out
    assert "| 02 | [B](b) | more | 01 | 60–75 min | 2.2 min |" in out
    assert "about 2 hours of study" in out  # the first screen's study time is the same sum
    assert "about 2 hours" in out and "(make bench, today)" in out and "No GPU run has been measured yet" in out
    assert syllabus.render(out, lessons, times) == out
    gone = syllabus.render(README, lessons, {"measured": {"01_a": "bench A"}, "cpu": {"01_a": 6.0}})
    assert "| 02 | [B](b) | more | 01 | 60–75 min | not measured |" in gone and "the 1 measured" in gone
    mixed = syllabus.render(README, lessons, {"measured": {"01_a": "bench A", "02_b": "bench B"}, "cpu": times["cpu"]})
    assert "(01: bench A; 02: bench B)" in mixed


def test_render_names_a_row_without_a_notebook_and_a_notebook_without_a_row() -> None:
    with pytest.raises(syllabus.SyllabusError, match="lists '02', which is not a notebook"):
        syllabus.render(README, [syllabus.Lesson("01", "01_a", (45, 45), "x")], {"cpu": {}})
    three = [syllabus.Lesson(n, f"{n}_x", (45, 45), "x") for n in ("01", "02", "03")]
    with pytest.raises(syllabus.SyllabusError, match="no row for notebook"):
        syllabus.render(README, three, {"cpu": {}})


def test_a_bench_stores_default_runs_by_device_and_skips_failures(tmp_path: Path) -> None:
    path = tmp_path / "run_times.json"
    rows = [SimpleNamespace(notebook="01_a.ipynb", status="ok", seconds=6.04, device="cpu"),
            SimpleNamespace(notebook="02_b.ipynb", status="failed", seconds=1.0, device="cpu"),
            SimpleNamespace(notebook="03_c.ipynb", status="ok", seconds=30.0, device="cuda:0")]
    assert syllabus.record_run_times(rows, "make bench, today", path) == ["01_a", "03_c"]
    data = json.loads(path.read_text())
    assert data == {"measured": {"01_a": "make bench, today", "gpu:03_c": "make bench, today"}, "cpu": {"01_a": 6.0},
                    "gpu": {"03_c": 30.0}}
    path.write_text("[1, 2]")
    with pytest.raises(syllabus.SyllabusError, match="not a run-times file"):
        syllabus.load_run_times(path)
