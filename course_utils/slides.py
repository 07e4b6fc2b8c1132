"""Slides for instructors: each lesson as a reveal.js deck, built by ``make site`` from the executed notebook.

Which cells an instructor projects is marked in the notebook's own metadata, the Jupyter convention that
JupyterLab's property inspector edits and nbconvert reads: ``cell.metadata.slideshow.slide_type`` is
``slide``, ``subslide``, ``fragment``, ``-`` (continue) or ``skip``. A cell with an explicit mark keeps it; the
others are marked by rule (:func:`mark`): the title, each section heading with its first paragraph (the rest
of the prose becomes speaker notes, key ``S``), the first code cell of each section with its output, every cell
that draws a plot, each exercise's prompt. Never shown: the set-up and parameters cells, and any cell holding a
solution or an exercise's code (a test checks every deck).

The decks run offline: reveal.js comes from the npm registry once (pinned, integrity checked, cached in
``build/vendor``) and MathJax from the site's own copy; images are embedded.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
REVEAL_VERSION = "4.6.1"
# npm's integrity of reveal.js-4.6.1.tgz (`npm view reveal.js@4.6.1 dist.integrity`): a changed download fails.
REVEAL_SHA512 = "1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ74HUHCMw=="
VENDOR = ROOT / "build" / "vendor"
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
HIDDEN_MARKERS = ("### BEGIN SOLUTION", "### BEGIN BUG", "# Set-up, the same in every notebook")
EXERCISE_LINE = re.compile(r'^exercises\["\w+"\]\s*=', re.MULTILINE)
PLOT = re.compile(r"\b(plt\.|\.plot\(|imshow\(|show_images|plot_)")


def _never_shown(cell: nbformat.NotebookNode) -> bool:
    tags = cell.metadata.get("tags", [])
    return cell.cell_type == "code" and (
        any(m in cell.source for m in HIDDEN_MARKERS) or bool(EXERCISE_LINE.search(cell.source))
        or "parameters" in tags or "injected-parameters" in tags)


def _has_plot(cell: nbformat.NotebookNode) -> bool:
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])) or bool(PLOT.search(cell.source))


def mark(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every cell's ``slideshow.slide_type`` set: explicit marks kept, the rest by rule;
    a cell holding a solution, an exercise or the set-up is always ``skip`` (whatever its mark says)."""
    nb = copy.deepcopy(nb)
    first_code_pending = False
    for index, cell in enumerate(nb.cells):
        explicit = cell.metadata.get("slideshow", {}).get("slide_type")
        if _never_shown(cell):
            kind = "skip"
        elif explicit in SLIDE_TYPES:
            kind = explicit
        elif index == 0:
            kind = "slide"
        elif cell.cell_type == "markdown":
            following = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
            if re.match(r"#{1,2}\s", cell.source):
                kind, first_code_pending = "slide", True
            elif re.match(r"###\s", cell.source):
                kind, first_code_pending = "subslide", True
            elif following is not None and following.cell_type == "code" and EXERCISE_LINE.search(following.source):
                kind = "subslide"  # an exercise's prompt
            elif "attachment:" in cell.source:
                kind = "subslide"  # a diagram
            else:
                kind = "skip"
        elif _has_plot(cell) or first_code_pending:
            kind, first_code_pending = "subslide", False
        else:
            kind = "skip"
        cell.metadata.setdefault("slideshow", {})["slide_type"] = kind
    return nb


def _markdown_html(cell: nbformat.NotebookNode) -> tuple[str, str]:
    """A markdown cell as (slide HTML, speaker-notes HTML): its heading and first paragraph on the slide, the
    rest in the notes; attachments inlined as data URIs."""
    from markdown_it import MarkdownIt

    source = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*", "", cell.source)  # an image from the network
    for name, data in cell.get("attachments", {}).items():
        mime, payload = next(iter(data.items()))
        source = source.replace(f"attachment:{name}", f"data:{mime};base64,{payload}")
    blocks = re.split(r"\n\s*\n", source.strip())
    keep = 2 if blocks and blocks[0].lstrip().startswith("#") else 1
    if blocks and blocks[0].lstrip().startswith("# "):  # the title slide: the lesson's goals too
        keep = min(len(blocks), 4)
    if any("data:image" in b for b in blocks):
        keep = max(keep, 1 + max(i for i, b in enumerate(blocks) if "data:image" in b))
    md = MarkdownIt("commonmark").enable("table")
    return md.render("\n\n".join(blocks[:keep])), md.render("\n\n".join(blocks[keep:]))


def _code_html(cell: nbformat.NotebookNode) -> str:
    """A code cell highlighted, with its first outputs (text cut to 12 lines, images embedded)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    parts = [highlight(cell.source, PythonLexer(), HtmlFormatter(noclasses=True, style="default"))]
    for output in cell.get("outputs", [])[:3]:
        data = output.get("data", {})
        if "image/png" in data:
            parts.append(f'<img alt="plot" src="data:image/png;base64,{data["image/png"].strip()}">')
        elif output.get("output_type") == "stream" or "text/plain" in data:
            text = output.get("text") or data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            lines = text.splitlines()
            shown = "\n".join(lines[:12]) + ("\n..." if len(lines) > 12 else "")
            parts.append(f'<pre class="output">{html.escape(shown)}</pre>')
    return "\n".join(parts)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: slides</title>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="icon" href="../_static/favicon.png">
<link rel="stylesheet" href="reveal.js/dist/reveal.css">
<link rel="stylesheet" href="reveal.js/dist/theme/white.css">
<style>
.reveal {{ font-size: 26px; }} .reveal pre {{ font-size: 0.55em; width: 100%; box-shadow: none; }}
.reveal pre.output {{ background: #f6f8fa; padding: 0.3em; }} .reveal img {{ max-height: 420px; }}
.reveal .slides section {{ text-align: left; }}
</style>
<script>window.MathJax = {{ tex: {{ inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]] }} }};</script>
<script defer src="../_static/mathjax/tex-chtml.js"></script>
</head><body>
<div class="reveal"><div class="slides">
{sections}
</div></div>
<script src="reveal.js/dist/reveal.js"></script>
<script src="reveal.js/plugin/notes/notes.js"></script>
<script>Reveal.initialize({{ hash: true, slideNumber: true, plugins: [RevealNotes] }});</script>
</body></html>
"""


def deck_html(nb: nbformat.NotebookNode, title: str) -> tuple[str, int]:
    """The reveal.js page of a marked notebook and its number of slides."""
    sections: list[list[str]] = []
    notes: list[list[str]] = []
    for cell in mark(nb).cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind == "skip":
            continue
        if kind in ("slide", "subslide") or not sections:
            sections.append([])
            notes.append([])
        if cell.cell_type == "markdown":
            shown, rest = _markdown_html(cell)
            if kind == "notes":
                notes[-1].append(shown + rest)
                continue
            sections[-1].append(f'<div class="fragment">{shown}</div>' if kind == "fragment" else shown)
            notes[-1].append(rest)
        elif kind != "notes":
            sections[-1].append(_code_html(cell))
    body = "\n".join(f"<section>\n{''.join(s)}\n<aside class=\"notes\">{''.join(n)}</aside>\n</section>"
                     for s, n in zip(sections, notes, strict=True))
    return PAGE.format(title=html.escape(title), sections=body), len(sections)


def reveal_assets(vendor: Path = VENDOR) -> Path:
    """reveal.js, downloaded once from the npm registry (``npm pack``), its integrity checked against the pinned
    hash, unpacked into ``vendor``; returns the package folder."""
    folder = vendor / f"reveal.js-{REVEAL_VERSION}"
    if (folder / "dist" / "reveal.js").is_file():
        return folder
    vendor.mkdir(parents=True, exist_ok=True)
    tarball = vendor / f"reveal.js-{REVEAL_VERSION}.tgz"
    if not tarball.is_file():
        if shutil.which("npm") is None:
            raise RuntimeError(f"the slides need reveal.js {REVEAL_VERSION}: install Node.js (npm), or put "
                               f"reveal.js-{REVEAL_VERSION}.tgz (npm pack reveal.js@{REVEAL_VERSION}) into {vendor}")
        subprocess.run(["npm", "pack", f"reveal.js@{REVEAL_VERSION}", "--pack-destination", str(vendor)],
                       check=True, capture_output=True, text=True)
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != REVEAL_SHA512:
        tarball.unlink()
        raise RuntimeError(f"{tarball.name} does not match its pinned sha512 (deleted): download it again")
    tmp = vendor / f".unpack-{REVEAL_VERSION}"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp, filter="data")
    (tmp / "package").rename(folder)
    shutil.rmtree(tmp)
    return folder


def write_decks(pages: list[Any], out: Path) -> dict[str, int]:
    """One deck per lesson page into ``out`` (with the reveal.js files it needs); returns slides per deck."""
    out.mkdir(parents=True, exist_ok=True)
    reveal = reveal_assets()
    for part in ("dist", "plugin/notes"):
        shutil.copytree(reveal / part, out / "reveal.js" / part, dirs_exist_ok=True)
    counts = {}
    for page in pages:
        text, counts[page.stem] = deck_html(nbformat.read(page.executed, as_version=4), page.title)
        (out / f"{page.stem}.html").write_text(text, encoding="utf-8")
    return counts
