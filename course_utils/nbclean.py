"""Keep committed notebooks clean: valid nbformat, no outputs, one ``parameters`` cell.

``python -m course_utils.nbclean --check notebooks`` fails (exit 1) naming each problem;
``python -m course_utils.nbclean notebooks`` strips outputs and execution counts in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

KEEP_METADATA = {"kernelspec", "language_info"}


def problems(path: Path) -> list[str]:
    """What is wrong with one notebook file ([] when it is clean)."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several unrelated types
        return [f"{path}: not a valid notebook ({exc})"]
    found = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append(f"{path}: kernelspec must be python3 (papermill and nbmake pick the kernel from it)")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        found.append(f"{path}: needs exactly one cell tagged 'parameters', has {len(tagged)}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            found.append(f"{path}: cell {i} has outputs or an execution count (run: make strip)")
    return found


def strip(path: Path) -> bool:
    """Remove outputs, execution counts and run metadata in place; True if the file changed."""
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEEP_METADATA}
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def main(argv: list[str] | None = None) -> int:
    """Check or strip the notebooks under the given folders/files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report; exit 1 on any problem")
    args = parser.parse_args(argv)
    files = sorted(f for p in args.paths for f in ([p] if p.is_file() else p.glob("*.ipynb")))
    if not files:
        print("no notebooks found", file=sys.stderr)
        return 1
    if args.check:
        found = [msg for f in files for msg in problems(f)]
        print("\n".join(found) if found else f"{len(files)} notebooks clean")
        return 1 if found else 0
    for f in files:
        if strip(f):
            print(f"stripped {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
