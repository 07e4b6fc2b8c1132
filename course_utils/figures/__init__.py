"""The lessons' diagrams: drawn by code, saved as PNG files, embedded in the notebooks as cell attachments.

A diagram (an LSTM cell, ring all-reduce, LoRA's BA update...) teaches what prose cannot, but a picture that
does not load is worse than none. A notebook's markdown can point at a relative file (JupyterLab resolves it,
Colab opening the notebook from GitHub does not) or at a URL (needs the network). A cell **attachment** travels
inside the notebook itself, so it renders in JupyterLab, Colab, GitHub, VS Code and the course website offline.

How it fits together:

- each diagram is a function in ``course_utils/figures/nb<NN>.py`` (one module per notebook), registered with
  ``@figure("name")`` and returning a matplotlib ``Figure``; ``course_utils.figures.draw`` holds the boxes and
  arrows they share;
- ``python -m course_utils.figures notebooks`` (``make figures``) draws every registered diagram into
  ``notebooks/figures/<name>.png`` (atomic writes) and embeds each one in the markdown cells that show it,
  ``![what it shows](attachment:<name>.png)``;
- ``--check`` (``make lint`` and ``tests/test_figures.py``) fails when a notebook has no diagram, when a cell
  points at an attachment it does not hold, when an attachment is not a PNG or differs from its file, or when a
  file or a registered diagram is used by no notebook. It never redraws: matplotlib versions differ in the
  bytes they write, so the committed PNG is the reference.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import os
import pkgutil
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "figures"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 100
# ![alt text](attachment:name.png): how a markdown cell shows an embedded diagram.
ATTACHMENT_REF = re.compile(r"!\[(?P<alt>[^\]]*)\]\(attachment:(?P<name>[^)\s]+)\)")
NAME = re.compile(r"[a-z0-9][a-z0-9_]*")

REGISTRY: dict[str, Callable[[], Figure]] = {}


def figure(name: str) -> Callable[[Callable[[], Figure]], Callable[[], Figure]]:
    """Register a function that draws the diagram ``name`` (saved as ``notebooks/figures/<name>.png``)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"a diagram's name is lower-case letters, digits and _, e.g. 'lstm_cell', got {name!r}")

    def register(draw: Callable[[], Figure]) -> Callable[[], Figure]:
        if name in REGISTRY and REGISTRY[name].__qualname__ != draw.__qualname__:
            raise ValueError(f"two diagrams are called {name!r}: {REGISTRY[name].__module__} and {draw.__module__}")
        REGISTRY[name] = draw
        return draw

    return register


def load_all() -> dict[str, Callable[[], Figure]]:
    """Import every ``course_utils.figures.nb*`` module, so that the registry holds every diagram."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


def render(name: str, folder: Path = FIGURES_DIR) -> Path:
    """Draw the diagram ``name`` into ``folder/<name>.png`` (written to a temporary file, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if name not in load_all():
        raise KeyError(f"no diagram is called {name!r}; registered: {', '.join(sorted(REGISTRY)) or 'none'}")
    folder.mkdir(parents=True, exist_ok=True)
    fig = REGISTRY[name]()
    target = folder / f"{name}.png"
    handle, tmp = tempfile.mkstemp(dir=folder, suffix=".png.tmp")
    os.close(handle)
    try:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the PNG is a published file
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def shown_in(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(cell index, attachment name)`` of every diagram a notebook's markdown cells show."""
    return [(index, match["name"]) for index, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            for match in ATTACHMENT_REF.finditer(cell.source)]


def _png_data(name: str, folder: Path) -> str:
    path = folder / name
    if not path.is_file():
        stem = Path(name).stem
        raise FileNotFoundError(f"{path} does not exist: register a diagram '{stem}' in course_utils/figures/nb<NN>.py "
                                "and run make figures")
    return base64.b64encode(path.read_bytes()).decode("ascii")


def embed(notebooks: list[Path], folder: Path = FIGURES_DIR) -> list[Path]:
    """Put each diagram a markdown cell shows into that cell's attachments (and drop attachments it no longer
    shows); return the notebooks that changed."""
    changed = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        before = path.read_text(encoding="utf-8")
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            names = [m["name"] for m in ATTACHMENT_REF.finditer(cell.source)]
            if names:
                cell["attachments"] = {n: {"image/png": _png_data(n, folder)} for n in names}
            else:
                cell.pop("attachments", None)
        after = nbformat.writes(nb) + "\n"  # the format make sync writes
        if after != before:
            nbformat.validate(nb)
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


def problems(notebooks: list[Path], folder: Path = FIGURES_DIR, require_each: bool = True) -> list[str]:
    """Every way a diagram could fail to show (or be left behind), each with its fix; empty when all is well."""
    found: list[str] = []
    used: set[str] = set()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        shown = shown_in(nb)
        if require_each and not shown:
            found.append(f"{path.name} shows no diagram: draw one that explains its central idea "
                         "(course_utils/figures), show it with ![...](attachment:<name>.png), run make figures")
        for index, name in shown:
            used.add(name)
            where = f"{path.name}, cell {index + 1}"
            attachment = nb.cells[index].get("attachments", {}).get(name)
            if attachment is None:
                found.append(f"{where} shows attachment:{name} but does not hold it: run make figures")
                continue
            data = attachment.get("image/png")
            try:
                raw = base64.b64decode(data or "", validate=True)
            except ValueError:
                raw = b""
            if not raw.startswith(PNG_SIGNATURE):
                found.append(f"{where}: attachment {name} is not a PNG image: run make figures")
            elif not (folder / name).is_file():
                found.append(f"{where}: {name} has no file in {folder}: run make figures")
            elif raw != (folder / name).read_bytes():
                found.append(f"{where}: attachment {name} differs from {folder / name}: run make figures")
    if require_each:
        files = {p.name for p in folder.glob("*.png")}
        found += [f"{folder / n} is shown by no notebook: show it, or delete it" for n in sorted(files - used)]
        found += [f"diagram {n!r} is registered but no notebook shows {n}.png: show it, or remove it"
                  for n in sorted(load_all()) if f"{n}.png" not in used]
    return found


def main(argv: list[str] | None = None) -> int:
    """Draw and embed every diagram (``make figures``), or only check them (``--check``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or folders of notebooks")
    parser.add_argument("--check", action="store_true", help="only check; draw and write nothing")
    parser.add_argument("--only", nargs="*", default=None, help="draw only these diagrams (then embed all)")
    args = parser.parse_args(argv)
    from course_utils.nbclean import notebook_files

    files = notebook_files(args.paths)
    if not args.check:
        for name in sorted(load_all()) if args.only is None else args.only:
            print(f"drew {render(name)}")
        for path in embed(files):
            print(f"{path}: diagrams embedded")
    found = problems(files)
    print("\n".join(found) or f"{len(files)} notebooks: every diagram resolves ({len(load_all())} diagrams)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
