"""The practice loop as a learner meets it: references generated from the teacher notebooks, exercise cells
that never stop Run All, and the progress report (course_utils.practice)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.practice import exercise_cells, grading, progress, references
from course_utils.practice.student import student_edition

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _exercises() -> list[tuple[str, str, str]]:
    found = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        found += [(references.prefix_of(path.name), name, cand) for _, name, cand in references.exercise_cells(nb)]
    return found


def test_every_exercise_line_is_recognised() -> None:
    """A checker call spread over lines (13's) was missed: no fallback, and the student edition failed."""
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            assigned = len(re.findall(r'^exercises\["\w+"\]\s*=', cell.source, re.MULTILINE))
            assert assigned == len(references.EXERCISE_LINE.findall(cell.source)), (path.name, cell.source[-300:])


def test_the_references_are_in_step_with_the_teacher_notebooks() -> None:
    assert references.stale(NOTEBOOKS) == []


def _random_states() -> tuple:
    import random

    import numpy as np
    import torch

    return torch.get_rng_state(), random.getstate(), np.random.get_state()[1].tobytes()


def test_every_reference_passes_its_own_checker_and_no_checker_moves_the_learners_rng() -> None:
    """The fallback a student edition uses is right (each generated reference passes its exercise's checker), and
    every checker of the registry leaves the global random states (torch, random, NumPy) as it found them."""
    import torch

    exercises = _exercises()
    assert len(exercises) >= 3 * len(NOTEBOOKS)
    failing, moved = [], []
    for notebook, name, candidate in exercises:
        assert references.candidate_name(notebook, name) == candidate
        torch.manual_seed(7)
        before = _random_states()
        result = grading.check(f"{notebook}.{name}", references.reference(notebook, candidate), trials=2)
        after = _random_states()
        if not result.passed:
            failing.append(f"{notebook}.{name}: {result.message}")
        if not (torch.equal(before[0], after[0]) and before[1:] == after[1:]):
            moved.append(f"{notebook}.{name}")
    assert failing == []
    assert moved == [], f"these checkers changed the learner's random state: {moved}"


def test_unknown_references_are_named() -> None:
    with pytest.raises(KeyError, match="notebook 04 has no exercise 'nope'; it has: conv_output_size"):
        references.candidate_name("04", "nope")
    with pytest.raises(KeyError, match="no reference for 'nope'"):
        references.reference("04", "nope")


# --- a student edition's exercise cell and the cell after it ----------------------------------------------------
def _student_cells() -> tuple[str, str]:
    """Notebook 04's first exercise cell in the student edition (a stub), and the cell that uses its function."""
    nb, _ = student_edition(nbformat.read(ROOT / "notebooks" / "04_cnn_image_classification.ipynb", as_version=4))
    index = next(i for i, c in enumerate(nb.cells) if 'exercises["conv_output_size"]' in c.source)
    assert "raise NotImplementedError" in nb.cells[index].source
    return nb.cells[index].source, nb.cells[index + 1].source


def _namespace() -> dict:
    from course_utils.practice.checks.nb04 import check_conv_output_size

    return {"TRIALS": 3, "check_conv_output_size": check_conv_output_size}


def _solve(stub_cell: str, body: str) -> str:
    return re.sub(r"raise NotImplementedError\([^)]*\)", body, stub_cell)


CORRECT = "return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1"
WRONG = "return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride"  # forgets the first position


@pytest.mark.parametrize(("body", "learners_code_used"), [(CORRECT, True), (WRONG, False)])
def test_later_cells_use_the_learners_code_only_once_it_passes(
    body: str, learners_code_used: bool, capsys: pytest.CaptureFixture
) -> None:
    stub, later = _student_cells()
    ns = _namespace()
    result = exercise_cells.run_cell(_solve(stub, body), ns)
    assert result is not None and result.passed is learners_code_used
    calls = []
    learners = ns["conv_output_size"]
    if learners_code_used:
        ns["conv_output_size"] = lambda *a, **k: calls.append(a) or learners(*a, **k)
    exec(later, ns)  # the lesson's next cell: the CNN's sizes
    out = capsys.readouterr().out
    assert "block 3: conv keeps 7 px, pooling gives 3 px" in out
    assert bool(calls) is learners_code_used
    assert ("using the reference conv_output_size so the lesson can go on" in out) is not learners_code_used
    assert (learners.__module__ == "course_utils.practice.solutions.nb04") is not learners_code_used


@pytest.mark.parametrize(
    ("edit", "verdict"),
    [
        (lambda s: s, "not written yet"),
        (lambda s: _solve(s, "return (size + 2 * padding))"), "your cell has a syntax error (line"),
        (lambda s: _solve(s, "raise ValueError('mine')"), "your code raised ValueError: mine"),
        (lambda s: _solve(s, "return 'seven'"), "NOT YET"),
        (lambda s: "undefined_name_in_the_cell\n" + s, "running your cell raised NameError"),
    ],
    ids=["stub", "syntax-error", "raises", "wrong-type", "cell-raises"],
)
def test_whatever_the_cell_holds_run_all_goes_on(edit, verdict: str, capsys: pytest.CaptureFixture) -> None:
    stub, later = _student_cells()
    ns = _namespace()
    result = exercise_cells.run_cell(edit(stub), ns)
    assert result is not None and not result.passed
    assert verdict in str(result) and ns["exercises"]["conv_output_size"] is result
    exec(later, ns)  # the reference carries the lesson on
    out = capsys.readouterr().out
    assert "using the reference conv_output_size" in out and "block 3" in out
    assert "conv_output_size" in progress.classify(ns["exercises"]).line()


def test_the_transformer_touches_only_exercise_cells() -> None:
    stub, later = _student_cells()
    assert exercise_cells.transform([later]) == [later]
    (line,) = exercise_cells.transform([stub])
    assert line.startswith("_exercise_verdict = __import__('course_utils.practice.exercise_cells'")
    compile(line, "<cell>", "exec")


def test_the_set_up_cell_registers_the_transformer() -> None:
    from course_utils.setup_cell import setup_source

    assert "register_exercise_cells()" in setup_source("")
    assert exercise_cells.register() is False  # plain Python: nothing to register, nothing breaks


# --- progress -------------------------------------------------------------------------------------------------
def _result(name: str, passed: bool, message: str) -> grading.CheckResult:
    return grading.CheckResult(name, passed, 3, message)


def test_report_lines_and_the_teacher_editions_outcome_check(capsys: pytest.CaptureFixture) -> None:
    results = {"a": _result("a", True, "ok"), "b": _result("b", False, "not written yet: ..."),
               "c": _result("c", False, "a case failed: ...")}
    assert progress.report(results, require_all=False) is None
    found = progress.classify(results)
    assert found.passed == ["a"] and found.not_written == ["b"] and found.failing == ["c"]
    assert capsys.readouterr().out.strip() == (
        "progress: 1 of 3 exercises passed; 1 failing (c); 1 not written yet (b)")
    with pytest.raises(AssertionError, match="exercises_passed"):
        progress.report(results, require_all=True)
    progress.report({"a": results["a"]}, require_all=True)  # all passed: no error


def _saved(folder: Path, name: str, outputs: dict[str, str | None]) -> None:
    cells = [nbformat.v4.new_markdown_cell("# t")]
    for exercise, text in outputs.items():
        cell = nbformat.v4.new_code_cell(f'def f():\n    pass\n\nexercises["{exercise}"] = check_{exercise}(f)')
        if text is not None:
            cell.outputs = [nbformat.v4.new_output("stream", text=text)]
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(nb, folder / name)


def test_progress_reads_a_folder_of_saved_notebooks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _saved(tmp_path, "01_x.ipynb", {"a": "[PASSED] a: all 3 agree\n", "b": "[NOT YET] b: not written yet: x\n"})
    _saved(tmp_path, "02_y.ipynb", {"c": "[NOT YET] c: a case failed:\n  input: 1\n", "d": None})
    _saved(tmp_path, "03_z.ipynb", {})
    assert progress.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "| 01_x | 1 | 0 | 1 | 0 | b |" in out
    assert "| 02_y | 0 | 1 | 0 | 1 | c, d |" in out
    assert out[-1] == "| **course** | **1** | **1** | **1** | **1** | |"
    assert not any("03_z" in line for line in out)


def test_progress_of_an_empty_or_broken_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert progress.main([str(tmp_path)]) == 1
    assert "no notebooks in" in capsys.readouterr().err
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert progress.main([str(tmp_path)]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.notebook
def test_run_all_of_a_student_edition_with_broken_answers_completes(tmp_path: Path) -> None:
    """A real kernel (papermill): a syntax error, an exception and a wrong type in three exercise cells of 01's
    student edition; Run All completes and the progress line names all three."""
    from course_utils.runner import run_notebook

    nb = nbformat.read(ROOT / "student" / "01_tensors.ipynb", as_version=4)
    broken = {"windows_view": "return x.unfold(0, size, 1",  # a syntax error
              "broadcast_shape": "raise RuntimeError('my bug')",  # raises
              "pairwise_sq_dists": "return [[0.0]]"}  # the wrong type
    for cell in nb.cells:
        for name, body in broken.items():
            if f'exercises["{name}"]' in cell.source:
                cell.source = _solve(cell.source, body)
    path = tmp_path / "01_tensors.ipynb"
    nbformat.write(nb, path)
    result = run_notebook(path, tmp_path / "out", smoke=True, seed=0, timeout=300, threads=1)
    assert result.status == "ok", result.error
    text = (tmp_path / "out" / "01_tensors.ipynb").read_text()
    assert "your cell has a syntax error" in text and "my bug" in text
    # the fourth exercise, softmax_rows, is a find-the-bug one: the student edition starts from its buggy code
    line = re.search(r"progress: 0 of 4 exercises passed; 4 failing \(([^)]*)\)", text)
    assert line is not None, "the progress line should count all four exercises as failing"
    assert set(line.group(1).split(", ")) == {"windows_view", "broadcast_shape", "softmax_rows", "pairwise_sq_dists"}


@pytest.mark.parametrize(
    ("prediction", "answer", "right"),
    [(0.33, 1 / 3, True), (0.333, 1 / 3, True), (1.42, 4.25 / 3, True), (1.4167, 4.25 / 3, True),
     (0.3, 1 / 3, False), (0.34, 1 / 3, False), (0.67, 2 / 3, True), (0.66, 2 / 3, False), (3, 3, True),
     (3, 3.4, False), (2.5e-05, 2.4999e-05, True), ([0.33, 0.67], [1 / 3, 2 / 3], True), (12000.0, 12345.6, False)],
)
def test_predict_then_reveal_accepts_a_reasonable_rounding(prediction: object, answer: object, right: bool) -> None:
    """0.33 for 1/3 was "Not quite" (a relative tolerance of 1e-3): a typed number now matches the answer rounded
    to the precision typed, from two significant digits on."""
    from course_utils.practice.reveal import reveal

    assert reveal(prediction, answer) is right
