"""The website and the instructor kit (course_utils.website, slides, teaching; make site): the parts that need
no Sphinx. The build itself and the browser check run in CI (`make site SMOKE=1`, `make site-test`).

- Bad input (a notebook not executed, stale, failed or unstamped) stops the build with every problem and the
  fix named, and leaves the previous site in place.
- A page carries the run's freshness stamp, a Colab link to the learner's edition, folded set-up and exercise
  cells, and no image from the network.
- Slides never show a solution, an exercise's code or the set-up cell, whatever a cell's mark says.
- Teaching notes take each exercise's mistakes from its checker's own hints; the schedule covers every lesson
  once, in order.
- The publishing workflow calls make targets that exist.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from course_utils import slides, teaching, website
from course_utils.practice.student import BEGIN
from course_utils.runner import STAMP_KEY, stamp_run

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))


def executed_copy(source: Path, folder: Path, error: bool = False, stamp: bool = True) -> Path:
    """A stand-in for the runner's executed copy of ``source``: outputs on two cells, stamped."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    if error:
        last_code = [c for c in nb.cells if c.cell_type == "code"][-1]
        last_code.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="bar missed", traceback=[])]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source.name
    nbformat.write(nb, path)
    if stamp:
        stamp_run(path, seconds=12.3, device="cpu", smoke=True, seed=0, metrics={"accuracy": 0.91}, status="ok")
    return path


def test_the_runner_stamps_what_produced_an_executed_notebook(tmp_path: Path) -> None:
    path = executed_copy(NOTEBOOKS[1], tmp_path)
    stamp = nbformat.read(path, as_version=4).metadata[STAMP_KEY]
    assert stamp["device"] == "cpu" and stamp["seconds"] == 12.3 and stamp["smoke"] is True
    assert stamp["metrics"] == {"accuracy": 0.91} and "torch" in stamp["versions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp["finished"])


def test_bad_input_names_every_problem_and_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    chosen = NOTEBOOKS[:4]
    executed_copy(chosen[0], run)
    executed_copy(chosen[1], run, error=True)
    executed_copy(chosen[2], run, stamp=False)
    out = tmp_path / "site"
    (out / "html").mkdir(parents=True)
    (out / "html" / "index.html").write_text("the previous site")
    with pytest.raises(website.SiteError) as error:
        website.build(run, out, smoke=False, fix="make run", notebooks=chosen)
    message = str(error.value)
    assert f"{chosen[1].name}: its run failed (AssertionError: bar missed)" in message
    assert f"{chosen[2].name}" in message and "no run stamp" in message
    assert f"{chosen[3].name}: not executed" in message
    assert chosen[0].name not in message
    assert "fix: run `make run`" in message and "nothing was written" in message
    assert (out / "html" / "index.html").read_text() == "the previous site"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site-")] == []


def test_an_executed_copy_older_than_its_notebook_is_stale(tmp_path: Path) -> None:
    notebook = tmp_path / "notebooks" / NOTEBOOKS[0].name
    notebook.parent.mkdir()
    notebook.write_bytes(NOTEBOOKS[0].read_bytes())
    executed = executed_copy(notebook, tmp_path / "run")
    old = time.time() - 3600
    os.utime(executed, (old, old))
    with pytest.raises(website.SiteError, match="older than the notebook"):
        website.executed_pages(tmp_path / "run", [notebook], "make run")


def test_a_page_shows_the_stamp_and_folds_setup_and_exercises(tmp_path: Path) -> None:
    source = next(p for p in NOTEBOOKS if "10a" in p.name)
    path = executed_copy(source, tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("SMOKE = True", metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, path)
    (page,) = website.executed_pages(tmp_path, [source], "make run")
    shown = website.page_notebook(page, has_student=True)
    assert "colab-badge.svg" not in shown.cells[0].source  # no image from the network
    stamp = shown.cells[1].source
    assert "cpu" in stamp and "smoke mode" in stamp and "accuracy = 0.91" in stamp and "torch " in stamp
    assert f"/blob/main/student/{source.name})" in stamp  # Colab opens the learner's edition
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in shown.cells)
    folded = [c for c in shown.cells if "hide-input" in c.metadata.get("tags", [])]
    assert any(website.SETUP_MARK in c.source for c in folded)
    assert any(BEGIN in c.source for c in folded)
    assert all("hide-input" in c.metadata.get("tags", []) for c in shown.cells
               if c.cell_type == "code" and BEGIN in c.source)
    assert not any(BEGIN in c.source for c in shown.cells if c.cell_type == "markdown")  # answers in a dropdown
    assert "figures/attention_matrix.png" in "".join(c.source for c in shown.cells)  # diagrams as files
    assert not any(c.get("attachments") for c in shown.cells)
    assert ("attention_matrix.png", (ROOT / "notebooks" / "figures" / "attention_matrix.png").read_bytes()) in \
        website.figures_of(page.executed)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_slides_never_show_a_solution(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # an instructor marks everything for projection: solutions still stay off
        cell.metadata["slideshow"] = {"slide_type": "slide"}
    marked = slides.mark(nb)
    shown = [c for c in marked.cells if c.metadata["slideshow"]["slide_type"] != "skip"]
    assert not any(BEGIN in c.source or "### BEGIN BUG" in c.source for c in shown)
    assert not any(website.SETUP_MARK in c.source for c in shown)
    deck, count = slides.deck_html(nbformat.read(path, as_version=4), "t")
    assert count >= 3 and BEGIN not in deck and "colab-badge.svg" not in deck


def test_slide_marks_follow_the_rules_and_explicit_marks_win() -> None:
    cells = [
        nbformat.v4.new_markdown_cell("# Title\n\n- a goal"),
        nbformat.v4.new_markdown_cell("## Part one\n\nWhy.\n\nMore prose for the notes."),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("y = 2"),
        nbformat.v4.new_code_cell("plt.plot([1, 2])"),
        nbformat.v4.new_markdown_cell("Prose an instructor wants.", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell("Write the function."),
        nbformat.v4.new_code_cell(f'def f():\n    {BEGIN}\n    return 1\n    ### END SOLUTION\n\n'
                                  'exercises["f"] = check_f(f, trials=TRIALS)'),
    ]
    kinds = [c.metadata["slideshow"]["slide_type"] for c in slides.mark(nbformat.v4.new_notebook(cells=cells)).cells]
    assert kinds == ["slide", "slide", "subslide", "skip", "subslide", "slide", "subslide", "skip"]
    deck, count = slides.deck_html(nbformat.v4.new_notebook(cells=cells), "t")
    assert count == 6 and "More prose for the notes." in deck.split('<aside class="notes">', 2)[2]


def test_notes_take_the_mistakes_from_the_checkers_hints() -> None:
    hints = teaching.checker_hints("05")
    assert "class_weights" in hints
    assert any("clamp(min=1)" in h for h in hints["class_weights"]), hints["class_weights"]
    assert any("outputs[:, -1]" in h for h in hints["last_outputs"]), hints["last_outputs"]


def test_the_schedule_covers_every_lesson_once_in_order() -> None:
    minutes = [60, 45, 90, 30, 120, 60, 60, 75, 90, 60, 45, 120, 60, 90, 60, 45, 60, 90]
    for parts in (12, 5):
        groups = teaching.split(minutes, parts)
        assert [i for g in groups for i in g] == list(range(len(minutes)))
        assert len(groups) == parts and all(groups)
    assert len(teaching.split([30, 30], 5)) == 2  # never an empty week


def test_the_publishing_workflow_calls_targets_that_exist() -> None:
    workflow = (ROOT / ".github" / "workflows" / "site.yml").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    called = re.findall(r"run:\s*make ([a-z][\w-]*)", workflow)
    assert {"run", "site", "site-test"} <= set(called)
    assert set(called) <= targets, sorted(set(called) - targets)
    assert "upload-pages-artifact" in workflow and "build/site/html" in workflow


def test_the_favicon_is_a_png() -> None:
    assert website.favicon().startswith(b"\x89PNG\r\n\x1a\n")


def test_notes_read_whole_outcomes_and_name_a_lesson_once() -> None:
    nb = nbformat.read(ROOT / "notebooks" / "05_rnn_sequence_classification.ipynb", as_version=4)
    goals = teaching.outcomes(nb)
    assert len(goals) >= 4 and goals[0].endswith("`nn.Embedding`;"), goals[0]  # continuation lines joined
    page = website.Page("05_rnn_sequence_classification", website.title_of(nb), Path("x"), {})
    assert page.label.startswith("05 · ") and not page.label.startswith("05 05")
    title = website.title_of(nbformat.read(ROOT / "notebooks" / "00_python_for_pytorch.ipynb", as_version=4))
    assert "no_grad" in title  # underscores of code names kept
