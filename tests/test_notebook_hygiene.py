"""Notebook hygiene: nbstripout-clean, one parameters cell, python3, and the shared Colab badge and set-up cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils import bootstrap, nbclean, setup_cell

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _write(path: Path, outputs: bool, tags: list[list[str]], synced: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Title\n\nText."))
    for t in tags:
        cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": t})
        if outputs:
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    if synced and sum("parameters" in t for t in tags) == 1:
        setup_cell.sync(path)
    return path


def test_nbclean_reports_and_strips(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.ipynb", outputs=True, tags=[["parameters"], []])
    assert nbclean.problems(path) == []  # what nbstripout does not check is fine
    assert any("outputs" in p for p in nbclean.unstripped([path]))
    assert nbclean.main(["--check", str(tmp_path)]) == 1
    nbclean.main([str(path)])
    assert nbclean.unstripped([path]) == []
    assert nbclean.main(["--check", str(tmp_path)]) == 0


def test_nbclean_needs_one_parameters_cell_and_valid_json(tmp_path: Path) -> None:
    assert any("exactly one" in p for p in nbclean.problems(_write(tmp_path / "b.ipynb", False, [[], []])))
    broken = tmp_path / "c.ipynb"
    broken.write_text("{not json")
    assert "not a valid notebook" in nbclean.problems(broken)[0]


def test_sync_adds_badge_and_set_up_cell_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.ipynb", False, [["parameters"], []], synced=False)
    found = nbclean.problems(path)
    assert any("Colab badge" in p for p in found) and any("set-up cell" in p for p in found)
    assert setup_cell.sync(path) is True
    assert setup_cell.sync(path) is False  # idempotent
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.startswith("# Title\n\n[![Open In Colab]")
    assert nb.cells[2].source == setup_cell.setup_source(setup_cell.repository())
    assert nbclean.problems(path) == []
    assert nb.cells[2].metadata["jupyter"] == {"source_hidden": True} and nb.cells[2].metadata["cellView"] == "form"
    assert nb.cells[2].source.startswith("# @title Set-up")  # the one line Colab shows of a form cell
    nb.cells[2].metadata.pop("jupyter")
    nbformat.write(nb, path)
    assert any("shown collapsed" in p for p in nbclean.problems(path))
    assert setup_cell.sync(path) is True and nbclean.problems(path) == []
    nb = nbformat.read(path, as_version=4)
    nb.cells[2].source += "\nprint('edited')"
    nbformat.write(nb, path)
    assert any("shared set-up cell" in p for p in nbclean.problems(path))


def test_publish_sets_the_url_everywhere(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.course]\nrepository = ""\n')
    assert setup_cell.repository(pyproject) == ""
    setup_cell.set_repository("https://github.com/someone/dl-course", pyproject)
    repo = setup_cell.repository(pyproject)
    assert repo == "https://github.com/someone/dl-course"
    assert "colab.research.google.com/github/someone/dl-course/blob/main/notebooks/01.ipynb" in setup_cell.badge(
        "01.ipynb", repo
    )
    assert f'COURSE_REPO = "{repo}"' in setup_cell.setup_source(repo)
    with pytest.raises(ValueError, match="github.com/<owner>/<repo>"):
        setup_cell.set_repository("not a url", pyproject)


def test_every_notebook_has_one_badge_and_the_same_set_up_cell() -> None:
    assert NOTEBOOKS
    problems = [p for nb in NOTEBOOKS for p in nbclean.problems(nb)]
    assert problems == []
    assert nbclean.unstripped(NOTEBOOKS) == []


def test_set_up_cell_is_fast_where_everything_is_installed() -> None:
    import time

    start = time.perf_counter()
    assert bootstrap.ensure_packages() == []
    assert time.perf_counter() - start < 0.5


def _cells(row: str) -> list[str]:
    """A table row's cells by GitHub's rule: split on pipes that are not escaped, outer pipes dropped."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip() for cell in __import__("re").split(r"(?<!\\)\|", row)]


@pytest.mark.parametrize("doc", ["README.md", "CONTRIBUTING.md", "data/README.md"])
def test_every_markdown_table_renders(doc: str) -> None:
    """GitHub (and markdown-it) render a table only when its delimiter row has as many cells as its header."""
    import re

    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    tables = 0
    for i in range(1, len(lines)):
        delimiter_row = re.fullmatch(r"\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*", lines[i])
        if delimiter_row and lines[i - 1].lstrip().startswith("|"):
            tables += 1
            header, delimiter = _cells(lines[i - 1]), _cells(lines[i])
            assert len(header) == len(delimiter), f"{doc}:{i}: {len(header)} header cells, {len(delimiter)} delimiters"
    assert tables >= (3 if doc == "README.md" else 0)


def test_make_lab_leaves_the_network_choice_to_the_notebook() -> None:
    """`make lab` exported HF_HUB_OFFLINE=1 (the Makefile set it for every target): ONLINE = None could never
    detect a network in the command learners use. The tests and runs keep it."""
    import re

    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert not re.search(r"^export HF_HUB_OFFLINE", text, re.MULTILINE), "a global export reaches make lab too"
    [targets] = re.findall(r"^([\w -]+): export HF_HUB_OFFLINE := 1$", text, re.MULTILINE)
    assert "lab" not in targets.split() and {"test", "nbmake", "run", "fresh"} <= set(targets.split())


def test_the_student_editions_run_on_a_second_seed() -> None:
    """make nbmake (CI) runs the student editions with COURSE_SEED=1 while the smoke tests run seed 0, so every
    outcome check is proven on two seeds; every parameters cell leaves SEED to COURSE_SEED."""
    import json
    import re

    assert re.search(r"^nbmake: export COURSE_SEED \??= 1$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        [parameters] = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert re.search(r"^SEED = None\b", "".join(parameters["source"]), re.MULTILINE), path.name
