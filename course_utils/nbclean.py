"""Keep committed notebooks clean: nbstripout (the standard tool) strips them; this adds what it cannot check.

- ``python -m course_utils.nbclean notebooks`` strips outputs, execution counts and run metadata in place with
  ``nbstripout --keep-id`` (the same rules as the pre-commit hook and ``make strip``);
- ``python -m course_utils.nbclean --check notebooks`` fails (exit 1) naming each problem: a notebook that
  nbstripout would change, an invalid notebook, a kernelspec other than python3, not exactly one cell tagged
  ``parameters``, and a set-up cell or Colab badge out of step with ``course_utils.setup_cell``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

NBSTRIPOUT = [sys.executable, "-m", "nbstripout", "--keep-id"]


def problems(path: Path) -> list[str]:
    """What nbstripout does not check in one notebook file ([] when it is fine)."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, nbformat.ValidationError) as exc:  # NotJSONError is a ValueError
        return [f"{path}: not a valid notebook ({exc})"]
    found = []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append(f"{path}: kernelspec must be python3 (papermill and nbmake pick the kernel from it)")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        found.append(f"{path}: needs exactly one cell tagged 'parameters', has {len(tagged)}")
    from course_utils.setup_cell import setup_problems

    found += [f"{path}: {msg}" for msg in setup_problems(nb, path.name)]
    return found


def unstripped(files: list[Path]) -> list[str]:
    """Files that nbstripout would change (outputs, execution counts, run metadata)."""
    if subprocess.run([*NBSTRIPOUT, "--verify", *map(str, files)], capture_output=True).returncode == 0:
        return []  # one process for the common case: every file clean
    out = []
    for f in files:
        proc = subprocess.run([*NBSTRIPOUT, "--verify", str(f)], capture_output=True, text=True)
        if proc.returncode != 0:
            out.append(f"{f}: has outputs, execution counts or run metadata (run: make strip)")
    return out


def notebook_files(paths: Iterable[Path | str]) -> list[Path]:
    """The notebooks named by ``paths``: a file as it is, a folder's ``*.ipynb``; sorted (the one glob rule of
    every command that takes notebooks or folders: lint, sync, student)."""
    return sorted(f for p in map(Path, paths) for f in ([p] if p.is_file() else p.glob("*.ipynb")))


def strip(files: list[Path]) -> None:
    """Strip ``files`` in place with nbstripout."""
    subprocess.run([*NBSTRIPOUT, *map(str, files)], check=True)


def main(argv: list[str] | None = None) -> int:
    """Check or strip the notebooks under the given folders/files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report; exit 1 on any problem")
    args = parser.parse_args(argv)
    files = notebook_files(args.paths)
    if not files:
        print("no notebooks found", file=sys.stderr)
        return 1
    if not args.check:
        strip(files)
        return 0
    found = [msg for f in files for msg in problems(f)] + unstripped(files)
    print("\n".join(found) if found else f"{len(files)} notebooks clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
