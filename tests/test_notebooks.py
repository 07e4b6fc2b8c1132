"""Execute every notebook in smoke mode through papermill (course_utils.runner), one test each.

A failure names the notebook, the failing cell, its source and the exception. Each notebook must also
finish within NOTEBOOK_TIMEOUT seconds and record at least one headline metric besides the device.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils.cpu import threads_for
from course_utils.runner import run_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_TIMEOUT = float(os.environ.get("COURSE_NOTEBOOK_TIMEOUT", "300"))
NOTEBOOK_CACHE = ROOT / "build" / "test-cache"  # shared by the notebook runs (as a learner's cache is), not data/cache


@pytest.fixture(autouse=True)
def _notebook_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebooks build the classifier, tokenizer and converted LM once (locked) and later notebooks reuse them."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(NOTEBOOK_CACHE))


def test_the_notebooks_are_the_syllabus() -> None:
    """Every notebook is in the README's syllabus and every syllabus entry exists (a lost notebook fails here)."""
    import re

    listed = re.findall(r"\(notebooks/([\w-]+\.ipynb)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(listed) >= 16 and len(set(listed)) == len(listed)
    assert sorted(listed) == [p.name for p in NOTEBOOKS]


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(notebook: Path) -> None:
    threads = threads_for(jobs=int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    out_dir = ROOT / "build" / "smoke"
    result = run_notebook(notebook, out_dir, smoke=True, seed=0, timeout=NOTEBOOK_TIMEOUT, threads=threads)
    print(f"{notebook.name}: {result.status} in {result.seconds:.1f} s on {result.device}; metrics {result.metrics}")
    if result.status != "ok":
        tail = result.output[-2000:]
        pytest.fail(f"{notebook.name} {result.status} after {result.seconds:.0f} s: {result.error}\n{tail}")
    assert result.device != "?", f"{notebook.name} did not record its device (call record(device=...))"
    assert set(result.metrics) - {"smoke"}, f"{notebook.name} recorded no headline metric"
    assert output_noise(out_dir / notebook.name) == []


def output_noise(executed: Path) -> list[str]:
    """What a learner reading the saved outputs does not need: a value displayed after the set-up cell or at the
    end of the outcome checks, a metric shown twice in one cell ("recorded: x=..." and then "ok: x = ..."), a
    progress bar saved as a widget or stopped short of 100%."""
    import re

    import nbformat

    from course_utils.setup_cell import SETUP_MARK

    code = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    found = []
    for index, cell in enumerate(code):
        shown = [o for o in cell.get("outputs", []) if o.get("output_type") == "execute_result"]
        if shown and (SETUP_MARK in cell.source or index == len(code) - 1):
            where = "the set-up cell" if SETUP_MARK in cell.source else "the last cell"
            found.append(f"{where} displays a stray value: {shown[0]['data'].get('text/plain', '')[:80]}")
        text = "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                         for o in cell.get("outputs", []))
        if any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.get("outputs", [])):
            found.append(f"cell {index + 1} saved a progress-bar widget (it reads 0% forever in the saved copy)")
        unfinished = re.findall(r"^.{0,60}?\b\d{1,2}%\|.*$", text.replace("\r", "\n"), re.MULTILINE)
        if unfinished:
            found.append(f"cell {index + 1} saved an unfinished progress bar: {unfinished[0][:80]}")
        recorded = set(re.findall(r"recorded: (\w+)=", text))
        twice = sorted(recorded & set(re.findall(r"^ok: (\w+) = ", text, re.MULTILINE)))
        if twice:
            found.append(f"cell {index + 1} shows {', '.join(twice)} twice (recorded, then ok)")
    return found


@pytest.mark.notebook
def test_rerun_with_the_same_seed_gives_the_same_metrics(tmp_path: Path) -> None:
    """Determinism on the CPU: two smoke runs of a training notebook record identical headline metrics."""
    notebook = ROOT / "notebooks" / "02_autograd.ipynb"
    runs = [run_notebook(notebook, tmp_path / f"run{i}", smoke=True, seed=3, threads=1) for i in range(2)]
    assert all(r.status == "ok" for r in runs), [r.error for r in runs]

    def stable(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if not any(t in k for t in ("second", "time", "per_s"))}

    assert stable(runs[0].metrics) == stable(runs[1].metrics)
    assert len(stable(runs[0].metrics)) >= 3
