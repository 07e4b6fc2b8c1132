"""papermill's command line, started without an import that costs 1.4 s and that notebooks never use.

nbformat validates notebooks with jsonschema, and jsonschema's format checkers import ``rfc3987_syntax``
when it is installed (jupyter-events pulls it in). That import builds a grammar: 1.4 s of a 2-core CPU's
time in every papermill process, 12 times in ``make run`` and more in ``make test``. The notebook schema
never asks for the IRI formats it checks, so this entry point blocks that one import and then hands over to
papermill unchanged::

    python -m course_utils.fast_papermill IN.ipynb OUT.ipynb [papermill's options]
"""

from __future__ import annotations

import sys

SKIPPED_IMPORT = "rfc3987_syntax"


def block_slow_imports() -> None:
    """Make ``import rfc3987_syntax`` fail at once (jsonschema catches the ImportError and skips IRI checks)."""
    sys.modules.setdefault(SKIPPED_IMPORT, None)  # type: ignore[arg-type]  # None in sys.modules: ImportError


def main(argv: list[str] | None = None) -> None:
    """Run papermill's command line with ``argv`` (default: this process's arguments)."""
    block_slow_imports()
    from papermill.cli import papermill

    papermill.main(args=argv, prog_name="papermill")


if __name__ == "__main__":
    main()
