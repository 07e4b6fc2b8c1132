"""The course website (``make site``): every lesson as a page with the outputs of a real run, plus the
instructor kit (slides, teaching notes, a schedule), built offline from what ``make run`` executed.

Why Sphinx with MyST-NB and the book theme: it is what the PyTorch tutorials and many university courses use
for executed notebooks (pages in order with navigation, a full-text search index built at build time, math,
Pygments highlighting, copy buttons), and every piece of it installs from PyPI with its assets inside the wheel,
so it builds with no network: Jupyter Book 2 (mystmd) fetches its theme at build time, Quarto is not on PyPI.
MathJax comes from ``sphinx-mathjax-offline`` (served from the site itself, not a CDN). Its packages are their
own group, ``requirements-site.txt``, installed into ``.venv-site`` by ``make site``: a learner's ``make
setup`` does not grow. The build never executes a notebook (``nb_execution_mode = "off"``): it shows the run
that ``make run`` left in ``build/run`` (``--smoke``: the smoke run of ``make test`` in ``build/smoke``).

Each page starts with a **freshness stamp** (``course_utils.runner.stamp_run`` writes it into the executed
notebook: date, device, mode, seed, seconds, package versions, headline metrics), an "Open in Colab" link to
the learner's edition and download links. The set-up cell and the exercise cells are folded (a click shows
them), so a page reads as a lesson and the solutions are not the first thing a learner sees.

Bad input stops the build before anything is written, naming every notebook that is missing, older than its
source, failed or unstamped, with the command that fixes it; the site is built in a temporary folder and moved
into place at the end, so a failed build never leaves half a site.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from course_utils import syllabus

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUDENT = ROOT / "student"
STAMP_KEY = "course_run"  # course_utils.runner.STAMP_KEY (not imported: the runner needs the course's packages)
SETUP_MARK = "# Set-up, the same in every notebook"
SOLUTION = "### BEGIN SOLUTION"
EXERCISE_LINE = re.compile(r'^exercises\["\w+"\]\s*=', re.MULTILINE)
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
SITE_TITLE = "Hands-on deep learning with PyTorch and Hugging Face"


class SiteError(ValueError):
    """The executed notebooks cannot make a site (missing, stale, failed): the message names each and the fix."""


@dataclass
class Page:
    """One lesson page: its notebook, title, the executed copy it shows and that run's stamp."""

    stem: str
    title: str
    executed: Path
    stamp: dict[str, Any]

    @property
    def number(self) -> str:
        return self.stem.split("_")[0]

    @property
    def label(self) -> str:
        """The title with the lesson's number in front (once: most titles start with it)."""
        return self.title if self.title.startswith(self.number) else f"{self.number} {self.title}"


def title_of(nb: nbformat.NotebookNode) -> str:
    """The first ``# `` heading of a notebook (its title), without markup."""
    for cell in nb.cells[:2]:
        if cell.cell_type == "markdown" and (match := re.search(r"^#\s+(.+)$", cell.source, re.M)):
            return re.sub(r"[*`]", "", match.group(1)).strip()
    return "Untitled"


def executed_pages(source: Path, notebooks: list[Path], fix: str) -> list[Page]:
    """The executed copy in ``source`` of each notebook, checked: raises ``SiteError`` listing every notebook that
    is missing, older than its source notebook, failed, or has no run stamp, with ``fix`` (the command)."""
    problems, pages = [], []
    for path in notebooks:
        executed = source / path.name
        if not executed.is_file():
            problems.append(f"{path.name}: not executed (no {executed})")
            continue
        if executed.stat().st_mtime < path.stat().st_mtime:
            problems.append(f"{path.name}: {executed} is older than the notebook (stale)")
            continue
        nb = nbformat.read(executed, as_version=4)
        stamp = nb.metadata.get(STAMP_KEY)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        if errors:
            problems.append(f"{path.name}: its run failed ({errors[0].get('ename')}: {errors[0].get('evalue')})")
        elif not stamp:
            problems.append(f"{path.name}: {executed} has no run stamp (it was not executed by course_utils.runner)")
        else:
            pages.append(Page(path.stem, title_of(nb), executed, dict(stamp)))
    if problems:
        listing = "\n  ".join(problems)
        raise SiteError(f"the site needs every notebook executed in {source}; {len(problems)} cannot be used:\n  "
                        f"{listing}\nfix: run `{fix}`, then build the site again (nothing was written)")
    return pages


def colab_url(notebook_name: str, folder: str) -> str:
    """The "Open in Colab" link of a notebook edition (``folder``: student or notebooks)."""
    from course_utils.setup_cell import badge, repository

    return badge(notebook_name, repository(), folder).rsplit("](", 1)[1].rstrip(")")


def link(href: str, text: str) -> str:
    """A plain HTML link, for files Sphinx does not build (downloads, slides): a markdown link would be taken
    for a cross-reference to a page."""
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def figures_of(executed: Path) -> list[tuple[str, bytes]]:
    """The diagrams a notebook carries as cell attachments: (file name, PNG bytes)."""
    import base64

    nb = nbformat.read(executed, as_version=4)
    return [(name, base64.b64decode(data["image/png"])) for cell in nb.cells if cell.cell_type == "markdown"
            for name, data in cell.get("attachments", {}).items() if "image/png" in data]


def stamp_markdown(page: Page, has_student: bool) -> str:
    """The freshness stamp and links shown at the top of a lesson page."""
    s = page.stamp
    when = str(s.get("finished", "?"))[:16].replace("T", " ")
    mode = "smoke mode (tiny sizes)" if s.get("smoke") else "default mode"
    versions = ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items())
    metrics = ", ".join(f"{k} = {v}" for k, v in s.get("metrics", {}).items() if k not in ("smoke",))
    edition = "student" if has_student else "notebooks"
    name = f"{page.stem}.ipynb"
    lines = [
        f"```{{admonition}} Outputs on this page: run on {when} UTC",
        ":class: note",
        f"{s.get('device', '?')} ({s.get('machine', '?')}), {mode}, seed {s.get('seed', '?')}, "
        f"{s.get('seconds', '?')} s; Python {s.get('python', '?')}, {versions}.",
        "",
        f"Headline metrics of this run: {metrics or 'none recorded'}.",
        "",
        f"[Open in Colab]({colab_url(name, edition)}) ({'the learner' if has_student else 'this'} edition) · "
        f"download: {link(f'../downloads/student/{name}', 'learner edition')} · "
        f"{link(f'../downloads/notebooks/{name}', 'with solutions')} · {link(f'../slides/{page.stem}.html', 'slides')}",
        "```",
    ]
    if not has_student:
        lines[-2] = (f"[Open in Colab]({colab_url(name, edition)}) · download: "
                     f"{link(f'../downloads/notebooks/{name}', 'notebook')} · "
                     f"{link(f'../slides/{page.stem}.html', 'slides')}")
    return "\n".join(lines)


def page_notebook(page: Page, has_student: bool) -> nbformat.NotebookNode:
    """The executed notebook as the page shows it: the badge (an image from the network) replaced by the stamp's
    links, the stamp after the title, papermill's injected cell removed, set-up and exercise cells folded."""
    nb = copy.deepcopy(nbformat.read(page.executed, as_version=4))
    nb.cells[0].source = BADGE.sub("", nb.cells[0].source)
    stamp = nbformat.v4.new_markdown_cell(stamp_markdown(page, has_student))
    stamp.id = "coursestamp"
    cells = [nb.cells[0], stamp]
    for cell in nb.cells[1:]:
        tags = list(cell.metadata.get("tags", []))
        if "injected-parameters" in tags:
            continue
        if cell.cell_type == "code" and (SETUP_MARK in cell.source or EXERCISE_LINE.search(cell.source)
                                         or SOLUTION in cell.source):
            tags.append("hide-input")
        elif cell.cell_type == "markdown" and SOLUTION in cell.source:  # a written answer: behind a click
            cell.source = re.sub(r"^[ \t]*### BEGIN SOLUTION[ \t]*$", ":::{dropdown} An answer",
                                 cell.source, flags=re.M)
            cell.source = re.sub(r"^[ \t]*### END SOLUTION[ \t]*$", ":::", cell.source, flags=re.M)
        if tags:
            cell.metadata["tags"] = tags
        if cell.cell_type == "markdown" and cell.get("attachments"):  # MyST-NB does not read attachments
            for name in cell.attachments:
                cell.source = cell.source.replace(f"attachment:{name}", f"figures/{name}")
            del cell["attachments"]
        cells.append(cell)
    nb.cells = cells
    return nb


CONF = '''# Generated by course_utils.website: do not edit (edit the generator).
project = {title!r}
author = "the course's contributors"
copyright = "{year}, the course's contributors (code: MIT; data and models: see data/README.md)"
extensions = ["myst_nb", "sphinx_copybutton", "sphinx_design", "sphinx-mathjax-offline"]
nb_execution_mode = "off"  # the site shows the outputs of make run, never a second execution
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
html_theme = "sphinx_book_theme"
html_title = {title!r}
html_favicon = "favicon.png"
html_context = {{"default_mode": "light"}}
html_theme_options = {{
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}}
html_static_path = []
html_extra_path = ["_extra"]
exclude_patterns = ["_build", "_extra"]
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
'''


def favicon(size: int = 16, rgb: tuple[int, int, int] = (238, 76, 44)) -> bytes:
    """A one-colour PNG (PyTorch's orange), so that the browser's favicon request does not 404."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def index_markdown(pages: list[Page], lessons: dict[str, syllabus.Lesson], smoke: bool) -> str:
    """The home page: what the course is, how to start, the syllabus with links, the instructor kit."""
    rows = ["| # | lesson | needs | study | run shown |", "|---|---|---|---|---|"]
    for page in pages:
        lesson = lessons.get(page.stem)
        needs = lesson.prerequisites if lesson else ""
        study = f"{lesson.minutes[0]}-{lesson.minutes[1]} min" if lesson and lesson.minutes[0] != lesson.minutes[1] \
            else f"{lesson.minutes[0]} min" if lesson else ""
        name = page.title.removeprefix(page.number).lstrip(" ·—-")
        rows.append(f"| {page.number} | [{name}](lessons/{page.stem}.ipynb) | {needs} | {study} | "
                    f"{page.stamp.get('seconds', '?')} s on {page.stamp.get('device', '?')} |")
    mode = ("These pages show a **smoke run** (tiny sizes, to test the site): `make run` then `make site` shows "
            "the full-size results." if smoke else "Every page shows the outputs of a full-size run (`make run`).")
    toc = "\n".join(f"lessons/{p.stem}" for p in pages)
    return f"""# {SITE_TITLE}

An ordered course of executable notebooks: tensors and autograd to transformers, fine-tuning and
post-training, with graded exercises. Read a lesson here with its outputs, then run it yourself: each page has
an "Open in Colab" link to the learner's edition and a download link. {mode}

**Start here:** [the first lesson](lessons/{pages[0].stem}.ipynb) · [for instructors](instructors/index.md)

{chr(10).join(rows)}

```{{toctree}}
:caption: Lessons
:hidden:
:maxdepth: 1

{toc}
```

```{{toctree}}
:caption: Instructors
:hidden:
:maxdepth: 1

instructors/index
```
"""


def stage(pages: list[Page], src: Path, smoke: bool) -> None:
    """Write the Sphinx source of the site into ``src``: conf.py, the home page, one page per lesson, the
    instructor kit's pages, and the downloads."""
    from course_utils import slides, teaching

    (src / "lessons").mkdir(parents=True)
    (src / "_extra" / "downloads").mkdir(parents=True)
    lessons = {lesson.stem: lesson for lesson in syllabus.lessons(NOTEBOOKS)}
    (src / "favicon.png").write_bytes(favicon())
    (src / "conf.py").write_text(CONF.format(title=SITE_TITLE, year=datetime.date.today().year), encoding="utf-8")
    (src / "index.md").write_text(index_markdown(pages, lessons, smoke), encoding="utf-8")
    for folder in ("notebooks", "student"):
        (src / "_extra" / "downloads" / folder).mkdir()
    for page in pages:
        name = f"{page.stem}.ipynb"
        has_student = (STUDENT / name).is_file()
        nbformat.write(page_notebook(page, has_student), src / "lessons" / name)
        for picture in figures_of(page.executed):  # the diagrams, as files beside the page
            (src / "lessons" / "figures").mkdir(exist_ok=True)
            (src / "lessons" / "figures" / picture[0]).write_bytes(picture[1])
        shutil.copy2(NOTEBOOKS / name, src / "_extra" / "downloads" / "notebooks" / name)
        if has_student:
            shutil.copy2(STUDENT / name, src / "_extra" / "downloads" / "student" / name)
    teaching.write_kit(pages, lessons, src / "instructors")
    slides.write_decks(pages, src / "_extra" / "slides")


def build(source: Path, out: Path, smoke: bool, fix: str, notebooks: list[Path] | None = None) -> Path:
    """Build the site of ``notebooks`` (default: every lesson) into ``out``, replaced only when the build
    succeeds; returns the HTML folder."""
    notebooks = notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]*.ipynb"))
    pages = executed_pages(source, notebooks, fix)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".site-", dir=out.parent))
    try:
        stage(pages, work / "src", smoke)
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", str(work / "src"),
                   str(work / "html")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SiteError(f"sphinx-build failed (nothing was replaced):\n{result.stderr[-3000:]}")
        if result.stderr.strip():
            print(result.stderr.strip())
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return out / "html"


def size_of(folder: Path) -> int:
    """Bytes under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    """``make site``: build the site from build/run (``--smoke``: from build/smoke) into build/site."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="build from the smoke run (build/smoke) of make test")
    parser.add_argument("--source", type=Path, help="the folder of executed notebooks (default: by mode)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    args = parser.parse_args(argv)
    source = args.source or ROOT / "build" / ("smoke" if args.smoke else "run")
    fix = "make notebooks (the smoke run)" if args.smoke else "make run"
    import time

    start = time.perf_counter()
    try:
        html_dir = build(source, args.out, args.smoke, fix)
    except SiteError as error:
        print(f"site not built: {error}", file=sys.stderr)
        return 1
    pages = sorted(html_dir.rglob("*.html"))
    decks = sorted((html_dir / "slides").glob("*.html"))
    print(f"site built in {time.perf_counter() - start:.0f} s: {html.escape(str(html_dir))}, {len(pages)} HTML "
          f"files ({len(decks)} slide decks), {size_of(html_dir) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
