"""Student editions (course_utils.practice.student) and the practice loop of the notebooks.

- The builder hides each solution behind a stub at the right indentation, strips outputs, and refuses broken
  markers.
- The student edition of every committed notebook keeps no line of any solution.
- In each practice notebook: at least 3 exercises, each checked by a registered checker, and one find-the-bug
  exercise; executed on their own (imports, ``TRIALS`` and ``exercises`` only), the teacher's exercise cells pass
  their checkers, the student's stubs are rejected with the "not written yet" feedback and the student's buggy
  code is rejected with feedback that names a failing case.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.practice import grading, student
from course_utils.practice.student import (
    BEGIN,
    BUG_BEGIN,
    BUG_END,
    END,
    STUB,
    SolutionMarkerError,
    hide_solutions,
    student_edition,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# notebook -> its prefix in the checker registry (course_utils.practice.checks.nb<prefix>)
PRACTICE = {
    "00_python_for_pytorch": "00",
    "01_tensors": "01",
    "02_autograd": "02",
    "03a_nn_module": "03a",
    "03b_data_utils": "03b",
    "03c_generalization": "03c",
    "04_cnn_image_classification": "04",
    "05_rnn_sequence_classification": "05",
    "06_pretrained_models": "06",
    "07_fine_tuning": "07",
    "08_loading_datasets": "08",
    "09_custom_tokenizer": "09",
    "10a_attention": "10a",
    "10b_vanilla_transformer": "10b",
    "10c_modern_decoder": "10c",
    "11_gradient_accumulation": "11",
    "12_post_training": "12",
    "12b_preference_optimization": "12b",
    "13_precision_and_compilation": "13",
    "14_distributed_training": "14",
}


# --- the builder ----------------------------------------------------------------------------------------------
def test_a_solution_becomes_a_stub_at_its_indentation() -> None:
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        f"    {BEGIN}\n"
        "    y = x + 1\n"
        "    return y\n"
        f"    {END}\n"
        "\n"
        "class A:\n"
        "    def g(self):\n"
        f"        {BEGIN}\n"
        "        return 2\n"
        f"        {END}\n"
        "print(f)"
    )
    hidden, count = hide_solutions(source)
    assert count == 2
    assert hidden == (
        f'def f(x):\n    """Doc."""\n    {STUB}\n\nclass A:\n    def g(self):\n        {STUB}\nprint(f)'
    )
    ast.parse(hidden)


def test_markdown_answers_are_hidden_too() -> None:
    hidden, count = hide_solutions(f"Why?\n\n{BEGIN}\nBecause.\n{END}\n", markdown=True)
    assert count == 1 and hidden == "Why?\n\n*Write your answer here.*\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (f"def f():\n    {BEGIN}\n    return 1\n", "never closed"),
        (f"def f():\n    return 1\n    {END}\n", "without a"),
        (f"def f():\n    {BEGIN}\n    {BEGIN}\n    {END}\n", "inside the solution opened on line 2"),
    ],
)
def test_unmatched_markers_are_refused_with_the_line(source: str, message: str) -> None:
    with pytest.raises(SolutionMarkerError, match=message):
        hide_solutions(source, "nb.ipynb, cell 3")


BUGGY_CELL = (
    "def train(model, batches, optimizer):\n"
    "    for x, y in batches:\n"
    f"        {BUG_BEGIN}\n"
    "        # loss = (model(x) - y).pow(2).mean()\n"
    "        #\n"
    "        # loss.backward()\n"
    f"        {BUG_END}\n"
    f"        {BEGIN}\n"
    "        optimizer.zero_grad()\n"
    "        loss = (model(x) - y).pow(2).mean()\n"
    "        loss.backward()\n"
    f"        {END}\n"
    "        optimizer.step()\n"
)


def test_a_find_the_bug_exercise_gives_the_learner_the_buggy_code() -> None:
    hidden, count = hide_solutions(BUGGY_CELL)
    assert count == 1
    assert hidden == (
        "def train(model, batches, optimizer):\n"
        "    for x, y in batches:\n"
        "        loss = (model(x) - y).pow(2).mean()\n"
        "\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    assert "zero_grad" not in hidden and BUG_BEGIN not in hidden and STUB not in hidden
    ast.parse(hidden)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (BUGGY_CELL.replace("        # loss.backward()", "        loss.backward()"), "must be commented out"),
        (BUGGY_CELL.replace(f"        {BEGIN}\n", "        pass\n", 1), "followed at once by"),
        (BUGGY_CELL.replace(f"        {BUG_END}\n", ""), "inside the bug block"),
        (BUGGY_CELL.replace(BUG_BEGIN, "### Begin Bug"), "looks like a solution marker"),
        (f"def f():\n    {BUG_BEGIN}\n    # return 1\n", "never closed"),
    ],
)
def test_broken_bug_markers_are_refused_with_the_line(source: str, message: str) -> None:
    with pytest.raises(SolutionMarkerError, match=message):
        hide_solutions(source, "nb.ipynb, cell 3")


def test_a_stub_that_breaks_the_cell_is_refused() -> None:
    # the marker sits at column 0, so the stub lands outside the function body it replaces
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"def f():\n{BEGIN}\n    return 1\n{END}\n")])
    with pytest.raises(SolutionMarkerError, match="no longer parses"):
        student_edition(nb, "broken.ipynb")


def test_build_writes_stripped_student_editions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cell = nbformat.v4.new_code_cell(f"def f():\n    {BEGIN}\n    return 42\n    {END}\n%time f", execution_count=3)
    cell.outputs = [nbformat.v4.new_output("stream", text="secret output 42\n")]
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "P"}})
    source = tmp_path / "src" / "x.ipynb"
    source.parent.mkdir()
    nbformat.write(nb, source)
    assert student.main([str(source.parent), "--out", str(tmp_path / "out")]) == 0
    assert "x.ipynb: 1 solution hidden" in capsys.readouterr().out
    written = nbformat.read(tmp_path / "out" / "x.ipynb", as_version=4)
    assert written.cells[0].outputs == [] and written.cells[0].execution_count is None
    assert "return 42" not in written.cells[0].source and STUB in written.cells[0].source
    assert nbformat.read(source, as_version=4).cells[0].source == cell.source  # the teacher edition is untouched
    assert student.main([str(source.parent), "--out", str(source.parent)]) == 1  # never overwrite the sources


# --- the committed notebooks ----------------------------------------------------------------------------------
def solution_blocks(source: str) -> list[list[str]]:
    blocks, current = [], None
    for line in source.splitlines():
        if line.strip() == BEGIN:
            current = []
        elif line.strip() == END:
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.fixture(scope="module")
def editions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[nbformat.NotebookNode, int]]:
    out = tmp_path_factory.mktemp("student")
    hidden = student.build(NOTEBOOKS, out)
    return {p.stem: (nbformat.read(p, as_version=4), n) for p, n in hidden.items()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_student_edition_keeps_no_solution_text(path: Path, editions: dict) -> None:
    teacher = nbformat.read(path, as_version=4)
    edition, hidden = editions[path.stem]
    blocks = [block for cell in teacher.cells for block in solution_blocks(cell.source)]
    assert hidden == len(blocks)
    outside = {line.strip() for cell in teacher.cells for line in hide_solutions(cell.source)[0].splitlines()}
    published = nbformat.read(ROOT / "student" / path.name, as_version=4)  # what learners open
    assert [c.source for c in published.cells] == [c.source for c in edition.cells]
    student_text = "\n".join(cell.source for cell in published.cells)
    student_lines = {line.strip() for line in student_text.splitlines()}
    secret = {line.strip() for block in blocks for line in block} - outside - {""}
    leaked = sorted(secret & student_lines)
    assert not leaked, f"solution lines left in the student edition of {path.name}: {leaked[:5]}"
    assert BEGIN not in student_text and END not in student_text
    assert all(cell.get("outputs", []) == [] for cell in published.cells)


def test_the_published_student_editions_are_in_step() -> None:
    assert student.stale(NOTEBOOKS, ROOT / "student") == []
    assert sorted(p.name for p in (ROOT / "student").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_student_edition_opens_itself_and_reports_instead_of_failing(path: Path) -> None:
    published = nbformat.read(ROOT / "student" / path.name, as_version=4)
    title = published.cells[0].source
    assert f"/blob/main/student/{path.name})" in title and "/blob/main/notebooks/" not in title
    assert student.STUDENT_LINE in title
    text = "\n".join(c.source for c in published.cells)
    assert student.REPORT_STUDENT in text and "require_all=True" not in text


def test_an_edited_notebook_without_a_new_student_edition_fails_lint(tmp_path: Path) -> None:
    out = tmp_path / "student"
    out.mkdir()
    for path in NOTEBOOKS[:2]:
        (out / path.name).write_bytes((ROOT / "student" / path.name).read_bytes())
    assert student.stale(NOTEBOOKS[:2], out) == []
    teacher = tmp_path / NOTEBOOKS[1].name
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    nb.cells[0].source += "\n\nA sentence the teacher added."
    nbformat.write(nb, teacher)
    (out / "99_orphan.ipynb").write_text("{}")
    problems = student.stale([NOTEBOOKS[0], teacher], out)
    assert any(NOTEBOOKS[1].name in p and "run make student" in p for p in problems), problems
    assert any("99_orphan.ipynb has no teacher notebook" in p for p in problems), problems


def exercise_results(nb: nbformat.NotebookNode) -> dict[str, grading.CheckResult]:
    """Run each exercise cell of ``nb`` on its own: the notebook's imports, then the cell, with TRIALS=3."""
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    imports = []
    for source in code:
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        tree = ast.parse("\n".join(lines))
        imports += [ast.get_source_segment("\n".join(lines), node) for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom))]
    namespace = {"__name__": "__main__", "TRIALS": 3, "SMOKE": True, "SEED": 0, "exercises": {}}
    exec("\n".join(imports), namespace)
    for source in code:
        if BEGIN in source or re.search(r"^exercises\[", source, re.M):
            exec(source, namespace)
    return namespace["exercises"]


@pytest.mark.parametrize("stem", sorted(PRACTICE))
def test_each_practice_notebook_has_three_or_more_checked_exercises(stem: str) -> None:
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    registered = grading.exercises_of(PRACTICE[stem])
    assert len(registered) >= 3
    for name in registered:
        checker = grading.REGISTRY[name].__name__
        assert len(re.findall(rf"\b{checker}\(", text)) == 1, f"{checker} should be called once in {stem}"
    assert text.count(BEGIN) >= len(registered)


@pytest.mark.parametrize("stem", sorted(PRACTICE))
def test_each_practice_notebook_has_a_find_the_bug_exercise(stem: str) -> None:
    """Issue 26: the learner fixes buggy code that runs (the checker names what is still wrong)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    buggy = [c for c in nb.cells if c.cell_type == "code" and BUG_BEGIN in c.source]
    assert buggy, f"{stem} has no find-the-bug exercise ({BUG_BEGIN} ... {BUG_END} before a solution)"
    assert all(re.search(r"^exercises\[", c.source, re.M) for c in buggy), "a bug block sits in an exercise cell"


def test_every_checker_is_tested_against_wrong_answers() -> None:
    """Each registered checker is called by a ``test_*rejects*`` test (plausible wrong answers, kept in tests/)."""
    rejecting = set()
    for path in (ROOT / "tests").glob("test_checks_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and "rejects" in node.name:
                rejecting |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id.startswith("check_")}
                rejecting |= {n.attr for n in ast.walk(node)  # nb04.check_x(...)
                              if isinstance(n, ast.Attribute) and n.attr.startswith("check_")}
    names = [name for prefix in PRACTICE.values() for name in grading.exercises_of(prefix)]
    checkers = {grading.REGISTRY[name].__name__ for name in names}
    assert checkers and not checkers - rejecting, f"checkers without wrong-answer tests: {sorted(checkers - rejecting)}"


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(PRACTICE))
def test_teacher_solutions_pass_and_student_stubs_are_rejected(stem: str, editions: dict) -> None:
    teacher = exercise_results(nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4))
    stubs = exercise_results(editions[stem][0])
    assert len(teacher) >= 3 and teacher.keys() == stubs.keys()
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    buggy = {m for c in nb.cells if c.cell_type == "code" and BUG_BEGIN in c.source
             for m in re.findall(r'^exercises\["(\w+)"\]', c.source, re.M)}
    for name, result in teacher.items():
        assert result.passed, f"{stem}: the teacher's solution of {name} fails its checker:\n{result}"
        if name in buggy:  # the learner starts from code that runs and fails a named case
            assert not stubs[name] and "not written yet" not in stubs[name].message, str(stubs[name])
            assert "input:" in stubs[name].message, str(stubs[name])
        else:
            assert not stubs[name] and "not written yet" in stubs[name].message, str(stubs[name])
