"""The lessons' diagrams (course_utils.figures): every notebook shows one, every one resolves offline.

A diagram lives in the notebook as a cell attachment (base64 PNG), so JupyterLab, Colab, GitHub and the website
render it with no network and no relative path. These tests fail when a notebook shows no diagram, when a cell
points at an attachment it does not hold or holds a corrupt one, when it differs from its committed file, and
when a registered diagram no longer draws.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import nbformat
import pytest

from course_utils import figures
from course_utils.figures import PNG_SIGNATURE, embed, load_all, problems, render, shown_in

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    assert data.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", data[16:24])


def test_every_notebook_shows_a_diagram_that_resolves() -> None:
    assert problems(NOTEBOOKS) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_attachment_is_a_real_picture(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    shown = shown_in(nb)
    assert shown, f"{path.name} shows no diagram"
    for index, name in shown:
        data = base64.b64decode(nb.cells[index].attachments[name]["image/png"])
        width, height = png_size(data)
        assert 200 <= width <= 1600 and 100 <= height <= 1200, f"{name}: {width}x{height} px"
        assert len(data) > 2_000, f"{name} is almost empty ({len(data)} bytes)"
        alt = next(m["alt"] for m in figures.ATTACHMENT_REF.finditer(nb.cells[index].source) if m["name"] == name)
        assert alt.strip(), f"{path.name}: {name} needs a short description (alt text) for screen readers"


@pytest.mark.parametrize("name", sorted(load_all()))
def test_each_registered_diagram_draws(name: str, tmp_path: Path) -> None:
    out = render(name, tmp_path)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert not list(tmp_path.glob("*.tmp")), "the temporary file of the atomic write is left behind"


def _toy(tmp_path: Path, markdown: str) -> tuple[Path, Path]:
    folder = tmp_path / "figures"
    folder.mkdir()
    from course_utils.figures import draw

    fig, ax = draw.canvas(4, 2)
    draw.box(ax, 0.5, 0.5, 3, 1, "a box", "input")
    fig.savefig(folder / "toy.png", dpi=100)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    path = tmp_path / "01_toy.ipynb"
    nbformat.write(nb, path)
    return path, folder


def test_embed_puts_the_picture_inside_the_notebook(tmp_path: Path) -> None:
    path, folder = _toy(tmp_path, "Look:\n\n![a box](attachment:toy.png)")
    assert problems([path], folder, require_each=False) == [
        "01_toy.ipynb, cell 1 shows attachment:toy.png but does not hold it: run make figures"]
    assert embed([path], folder) == [path]
    assert problems([path], folder, require_each=False) == []
    assert embed([path], folder) == []  # idempotent
    cell = nbformat.read(path, as_version=4).cells[0]
    assert base64.b64decode(cell.attachments["toy.png"]["image/png"]) == (folder / "toy.png").read_bytes()


def test_a_stale_or_corrupt_attachment_is_reported(tmp_path: Path) -> None:
    path, folder = _toy(tmp_path, "![a box](attachment:toy.png)")
    embed([path], folder)
    (folder / "toy.png").write_bytes((folder / "toy.png").read_bytes() + b"changed")
    assert any("differs from" in p for p in problems([path], folder, require_each=False))
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].attachments["toy.png"]["image/png"] = base64.b64encode(b"not a png").decode()
    nbformat.write(nb, path)
    assert any("is not a PNG image" in p for p in problems([path], folder, require_each=False))


def test_a_missing_file_names_the_fix(tmp_path: Path) -> None:
    path, folder = _toy(tmp_path, "![gone](attachment:gone.png)")
    with pytest.raises(FileNotFoundError, match="make figures"):
        embed([path], folder)


def test_a_notebook_without_a_diagram_and_an_unused_file_are_reported(tmp_path: Path) -> None:
    path, folder = _toy(tmp_path, "No picture here.")
    found = problems([path], folder)
    assert any("01_toy.ipynb shows no diagram" in p for p in found), found
    assert any("toy.png is shown by no notebook" in p for p in found), found


def test_a_diagram_name_must_be_a_plain_file_name() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        figures.figure("../escape")
