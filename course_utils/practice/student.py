"""Student editions: the committed (teacher) notebooks with every solution replaced by a stub.

Solutions sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (the nbgrader convention). In a code
cell the lines between the markers, markers included, become one ``raise NotImplementedError("write your
solution here")`` at the indentation of the ``### BEGIN SOLUTION`` line, so the learner's function or class
still parses and its checker answers "not written yet" until the learner writes it. In a markdown cell they
become "*Write your answer here.*". Outputs, execution counts and run metadata are stripped with nbstripout,
the same tool and rules as ``make strip``.

The student edition is what learners open, so it is published and tested: ``python -m
course_utils.practice.student notebooks`` (``make student``) writes one per notebook into the committed
``student/`` folder, with its own "Open in Colab" badge, the progress line of its last cell saying
``require_all=False`` (an unsolved exercise is reported, never an error), and the reference solutions
regenerated from the teacher notebooks (``course_utils.practice.references``); ``--check`` (``make lint``)
fails when a committed edition or reference is out of step with its notebook. It prints how many solutions
each edition hides; a marker without its partner, a nested marker, a
near-miss marker (``### Begin Solution``, ``## BEGIN SOLUTION``: it would leave the solution in the student
edition) or a stub that leaves a cell unparsable stops the build with the notebook, cell and line named.

**Find-the-bug exercises.** A solution may be preceded by the buggy code the learner is to fix, commented out
between ``### BEGIN BUG`` and ``### END BUG`` (each line ``# `` plus the code, at the solution's indentation)::

    def train(model, loader, optimizer):
        ### BEGIN BUG
        # for x, y in loader:
        #     loss = loss_fn(model(x), y)
        #     loss.backward()
        #     optimizer.step()
        ### END BUG
        ### BEGIN SOLUTION
        for x, y in loader:
            optimizer.zero_grad()
            ...
        ### END SOLUTION

The teacher notebook shows both (what learners get, and the fix); the student edition gets the buggy code,
uncommented, where the solution was, so the learner starts from code that runs and its checker names what is
still wrong.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("write your solution here")'  # grading.STUB_MESSAGE is its message
MARKDOWN_STUB = "*Write your answer here.*"
# What a mistyped marker looks like: a comment saying begin/end solution in another case, spacing or number of #.
_NEAR_MISS = re.compile(r"#+\s*(BEGIN|END)[\s_-]*SOLUTIONS?\b.*", re.IGNORECASE)
BUG_BEGIN = "### BEGIN BUG"
BUG_END = "### END BUG"
_BUG_NEAR_MISS = re.compile(r"#+\s*(BEGIN|END)[\s_-]*BUGS?\b.*", re.IGNORECASE)


class SolutionMarkerError(ValueError):
    """The solution markers of a notebook cell are not in matched BEGIN/END pairs, or hiding one broke the code."""


def _uncomment(line: str, where: str, number: int) -> str:
    """A line of a ``### BEGIN BUG`` block with its comment sign removed (``    # x = 1`` -> ``    x = 1``)."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if not stripped.strip():
        return line
    if stripped.startswith("# "):
        return indent + stripped[2:]
    if stripped.rstrip("\n") == "#":
        return "\n"
    raise SolutionMarkerError(f"{where}, line {number}: a line between {BUG_BEGIN} and {BUG_END} must be commented "
                              f"out ('# ' before the code), got {stripped.rstrip()!r}")


def hide_solutions(source: str, where: str = "cell", markdown: bool = False) -> tuple[str, int]:
    """``source`` with each marked solution replaced by a stub (or by the buggy code of the ``### BEGIN BUG``
    block just before it), and the number of solutions hidden."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a cell's text (a string), got {type(source).__name__}")
    out: list[str] = []
    begin_line: int | None = None
    bug_line: int | None = None  # the line of an open BEGIN BUG
    bug: list[str] | None = None  # the uncommented buggy code waiting for its solution
    hidden = 0
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if bug is not None and bug_line is None and marker != BEGIN:
            raise SolutionMarkerError(f"{where}, line {number}: {BUG_END} must be followed at once by {BEGIN} "
                                      "(the fix the student edition hides)")
        if marker == BUG_BEGIN:
            if begin_line is not None or bug_line is not None:
                raise SolutionMarkerError(f"{where}, line {number}: {BUG_BEGIN} inside another marked block")
            bug_line, bug = number, []
            out.append(line)
        elif marker == BUG_END:
            if bug_line is None:
                raise SolutionMarkerError(f"{where}, line {number}: {BUG_END} without a {BUG_BEGIN} before it")
            bug_line = None
            out.append(line)
        elif bug_line is not None:
            if marker in (BEGIN, END):
                raise SolutionMarkerError(f"{where}, line {number}: {marker} inside the bug block opened on line "
                                          f"{bug_line}; close it with {BUG_END} first")
            assert bug is not None
            bug.append(_uncomment(line, where, number))
            out.append(line)
        elif marker == BEGIN:
            if begin_line is not None:
                raise SolutionMarkerError(f"{where}, line {number}: {BEGIN} inside the solution opened on line "
                                          f"{begin_line}; close it with {END} first")
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            if bug is not None:  # find-the-bug: the learner starts from the buggy code, not a stub
                while out and out[-1].strip() != BUG_BEGIN:
                    out.pop()
                out.pop()
                out.extend(bug)
                bug = None
            else:
                out.append(f"{indent}{MARKDOWN_STUB if markdown else STUB}\n")
        elif marker == END:
            if begin_line is None:
                raise SolutionMarkerError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            begin_line = None
            hidden += 1
        elif match := _NEAR_MISS.fullmatch(marker) or _BUG_NEAR_MISS.fullmatch(marker):
            begins = match.group(1).upper() == "BEGIN"
            if "BUG" in marker.upper():
                exact = BUG_BEGIN if begins else BUG_END
            else:
                exact = BEGIN if begins else END
            raise SolutionMarkerError(f"{where}, line {number}: {marker!r} looks like a solution marker but is not "
                                      f"exactly {exact!r}, so the solution would stay in the student edition; "
                                      f"write it as {exact} (three #, capitals, nothing else on the line)")
        elif begin_line is None:
            out.append(line)
    if bug_line is not None:
        raise SolutionMarkerError(f"{where}, line {bug_line}: {BUG_BEGIN} is never closed with {BUG_END}")
    if bug is not None:
        raise SolutionMarkerError(f"{where}: {BUG_END} must be followed at once by {BEGIN}")
    if begin_line is not None:
        raise SolutionMarkerError(f"{where}, line {begin_line}: {BEGIN} is never closed with {END}")
    text = "".join(out)
    if not source.endswith("\n"):
        text = text.rstrip("\n")
    return text, hidden


def _parses(code: str) -> str | None:
    """The syntax error of a code cell (IPython magics and shell lines blanked out), or None."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    return None


def student_edition(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``nb`` with every solution hidden, and the number hidden (outputs are stripped by ``build``)."""
    nb = nbformat.from_dict(nb)  # a deep copy
    total = 0
    for index, cell in enumerate(nb.cells, start=1):
        where = f"{name}, cell {index}"
        if cell.cell_type not in ("code", "markdown") or not _NEAR_MISS.search(cell.source):
            continue  # (the exact markers match _NEAR_MISS too)
        cell.source, hidden = hide_solutions(cell.source, where, markdown=cell.cell_type == "markdown")
        total += hidden
        if cell.cell_type == "code" and (problem := _parses(cell.source)):
            raise SolutionMarkerError(f"{where}: with its solution hidden the cell no longer parses ({problem}); "
                                      "put each solution inside a function or class body, or a whole block")
    return nb, total


REPORT_TEACHER = "report(exercises, require_all=True)  # the student edition says require_all=False"
REPORT_STUDENT = "report(exercises, require_all=False)  # an exercise still to do is reported, not an error"
STUDENT_LINE = ("*Student edition: the exercises are yours to write. Every cell runs without them (an unsolved "
                "exercise uses the reference); the last cell shows your progress.*")


def publish(nb: nbformat.NotebookNode, name: str, folder: str = "student") -> nbformat.NotebookNode:
    """The student edition's own badge (it opens this edition) and progress line; raises if the notebook lacks
    the teacher's progress line while it has exercises."""
    from course_utils import setup_cell

    title = nb.cells[0]
    title.source = setup_cell.BADGE_RE.sub(setup_cell.badge(name, setup_cell.repository(), folder), title.source, 1)
    if STUDENT_LINE not in title.source:
        title.source = title.source.rstrip("\n") + "\n\n" + STUDENT_LINE
    reports = [c for c in nb.cells if c.cell_type == "code" and REPORT_TEACHER in c.source]
    has_exercises = any(c.cell_type == "code" and 'exercises["' in c.source for c in nb.cells)
    if has_exercises and len(reports) != 1:
        raise SolutionMarkerError(f"{name}: the last section must call `{REPORT_TEACHER}` once (found {len(reports)})")
    for cell in reports:
        cell.source = cell.source.replace(REPORT_TEACHER, REPORT_STUDENT)
    return nb


def build(notebooks: list[Path], out: Path) -> dict[Path, int]:
    """Write the student edition of each notebook into ``out`` (stripped); return the solutions hidden per file."""
    from course_utils.nbclean import strip

    out.mkdir(parents=True, exist_ok=True)
    written: dict[Path, int] = {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        edition, hidden = student_edition(nb, path.name)
        target = out / path.name
        nbformat.write(publish(edition, path.name), target)
        written[target] = hidden
    if written:
        strip(list(written))
    return written


def stale(notebooks: list[Path], out: Path) -> list[str]:
    """What ``make student`` would change in ``out`` and in the references (``make lint``), each with the fix."""
    import tempfile

    from course_utils.practice import references

    problems = references.stale(notebooks)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        for path in notebooks:
            edition, _ = student_edition(nbformat.read(path, as_version=4), path.name)
            nbformat.write(publish(edition, path.name), fresh / path.name)
        from course_utils.nbclean import strip

        strip(sorted(fresh.glob("*.ipynb")))
        for made in sorted(fresh.glob("*.ipynb")):
            committed = out / made.name
            if not committed.is_file() or committed.read_bytes() != made.read_bytes():
                problems.append(f"{committed} is out of step with notebooks/{made.name}: run make student")
    names = {p.name for p in notebooks}
    problems += [f"{extra} has no teacher notebook: delete it, or run make student"
                 for extra in sorted(out.glob("*.ipynb")) if extra.name not in names]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Build the student editions of the notebooks under the given folders/files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or folders of notebooks")
    parser.add_argument("--out", type=Path, default=Path("student"), help="folder for the student editions")
    parser.add_argument("--check", action="store_true", help="only check that --out and the references are in step")
    args = parser.parse_args(argv)
    from course_utils.nbclean import notebook_files

    files = notebook_files(args.paths)
    if not files:
        print("no notebooks found", file=sys.stderr)
        return 1
    if any(f.resolve().parent == args.out.resolve() for f in files):
        print(f"--out {args.out} holds the notebooks themselves: pick another folder", file=sys.stderr)
        return 1
    if args.check:
        try:
            problems = stale(files, args.out)
        except SolutionMarkerError as error:
            problems = [str(error)]
        print("\n".join(problems) or f"{len(files)} student editions and their references are in step")
        return 1 if problems else 0
    try:
        written = build(files, args.out)
    except SolutionMarkerError as error:
        print(f"student edition not built: {error}", file=sys.stderr)
        return 1
    from course_utils.practice import references

    for path in references.write([f for f in files if re.match(r"\d+[a-z]?_", f.name)]):
        print(f"{path}: reference solutions regenerated")
    for target, hidden in written.items():
        print(f"{target}: {hidden} solution{'s' if hidden != 1 else ''} hidden")
    print(f"{len(written)} student notebooks in {args.out}, {sum(written.values())} solutions hidden in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
