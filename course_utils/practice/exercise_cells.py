"""Exercise cells that never stop a lesson: whatever the learner's cell holds, Run All goes on.

An exercise cell defines the learner's function or class and ends with its checker's verdict::

    def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
        ...

    exercises["conv_output_size"] = check_conv_output_size(conv_output_size, trials=TRIALS)
    print(exercises["conv_output_size"])

The set-up cell calls :func:`register`, which adds an IPython input transformer: a cell that holds such a line
runs through :func:`run_cell`. There a syntax error, or an exception while the cell runs, becomes the
exercise's verdict instead of an error that would stop Run All; and unless the verdict is a pass, the name the
cell defines is bound to the reference solution (``course_utils.practice.references``) with one line saying so,
so every later cell that uses it still runs. Once the learner's code passes, later cells use the learner's code.
The cell's source on disk stays plain Python (ruff lints it; outside IPython it runs as written).
"""

from __future__ import annotations

import ast
from typing import Any

from course_utils.practice.grading import REGISTRY, CheckResult
from course_utils.practice.references import EXERCISE_LINE, reference

_RUNNER = "__import__('course_utils.practice.exercise_cells', fromlist=['run_cell']).run_cell"


def _notebook_of(checker: Any) -> str:
    """The registry's notebook prefix of a checker function (``check_conv_block`` -> ``"04"``)."""
    for key, registered in REGISTRY.items():
        if registered is checker:
            return key.split(".")[0]
    raise KeyError(f"{getattr(checker, '__name__', checker)!r} is not a registered exercise checker")


def run_cell(source: str, namespace: dict[str, Any]) -> CheckResult | None:
    """Run an exercise cell's ``source`` in ``namespace``; its verdict always lands in ``exercises``."""
    matches = list(EXERCISE_LINE.finditer(source))
    if not matches:  # not an exercise cell after all: run it as it is
        exec(compile(source, "<cell>", "exec"), namespace)  # the notebook's own cell
        return None
    name, checker, candidate = matches[-1]["name"], matches[-1]["checker"], matches[-1]["candidate"]
    results = namespace.setdefault("exercises", {})
    results.pop(name, None)
    try:
        tree = ast.parse(source, filename=f"<exercise {name}>")
    except SyntaxError as error:
        results[name] = CheckResult(name, False, 0, f"your cell has a syntax error (line {error.lineno}: "
                                                    f"{error.msg}); fix it and run the cell again")
    else:
        try:
            exec(compile(tree, f"<exercise {name}>", "exec"), namespace)  # the learner's own cell
        except Exception as error:  # the cell failed before its checker could speak: that is the verdict
            results[name] = CheckResult(name, False, 0, f"running your cell raised {type(error).__name__}: {error}")
    result = results.get(name)
    if result is None:
        result = results[name] = CheckResult(name, False, 0, "the cell did not run its checker")
    if "print(exercises" not in source or not result.cases:
        print(result)
    if not result.passed:
        notebook = _notebook_of(namespace[checker]) if checker in namespace else None
        if notebook is not None:
            namespace[candidate] = reference(notebook, candidate)
            why = "not written yet" if result.message.startswith("not written yet") else "does not pass yet"
            print(f"exercise {name} {why}: using the reference {candidate} so the lesson can go on")
    return result


def transform(lines: list[str]) -> list[str]:
    """IPython input transformer: an exercise cell runs through :func:`run_cell`; any other cell is unchanged."""
    source = "".join(lines)
    if not EXERCISE_LINE.search(source) or source.lstrip().startswith("%%"):
        return lines
    return [f"_exercise_verdict = {_RUNNER}({source!r}, globals())\n"]  # an assignment: nothing displayed


def register() -> bool:
    """Add :func:`transform` to the running IPython shell (once); False outside IPython (plain Python)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    transformers = shell.input_transformers_post
    if not any(getattr(t, "__qualname__", "") == transform.__qualname__ for t in transformers):
        transformers.append(transform)
    return True
