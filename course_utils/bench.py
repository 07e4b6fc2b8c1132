"""The course's benchmark: seconds and headline metrics per notebook, beside the previous run's.

A learner's wait is what the course spends, and a quality drop must not hide behind a faster run. ``make bench``
executes every notebook at default size (``course_utils.runner --bench build/bench``) and writes
``build/bench/bench.md``: for each notebook the seconds now and before, and every numeric metric now and before,
with the changes marked. The run it compares against is the previous bench run (``build/bench/latest.json``).
This is a benchmark to read, not a timed test: nothing fails on seconds.

Seconds only compare on a machine that runs at the same speed, and a shared 2-core machine does not: on one day
the same notebooks took 886 s in the morning and 637 s ninety minutes later. So the bench also measures the
machine, :func:`machine_speed` (a fixed float32 matmul, GFLOP/s, in a child process with the notebooks'
threads), before and after the notebooks, and prints it beside the previous bench's: a slowdown that the
machine shows too is the machine's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

LATEST = "latest.json"
MACHINE = "machine.json"  # the machine speed measured around the latest bench run

_SPEED_PROBE = """
import time, torch
a, b = torch.randn(256, 384), torch.randn(384, 1536)  # a BERT-sized matmul, the course's commonest work
for _ in range(20):
    a @ b
n, start = 0, time.perf_counter()
while time.perf_counter() - start < {seconds}:
    for _ in range(20):
        a @ b
    n += 20
print(2 * 256 * 384 * 1536 * n / (time.perf_counter() - start) / 1e9)
"""


def machine_speed(seconds: float = 3.0, env: dict[str, str] | None = None) -> float | None:
    """GFLOP/s of a fixed float32 matmul run for ``seconds`` in a child process (None if it cannot run).

    The child gets this process's environment (or ``env``), so the same thread settings as the notebooks.
    """
    from course_utils.validation import require_positive_number

    code = _SPEED_PROBE.format(seconds=require_positive_number("seconds", seconds, example="3"))
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60 + seconds,
                             env=env if env is not None else dict(os.environ), check=True)
        return round(float(out.stdout.strip().splitlines()[-1]), 1)
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def speed_line(now: tuple[float | None, float | None], before: dict[str, Any]) -> str:
    """One sentence: the machine's speed before/after this run, and around the previous bench run."""

    def pair(values: Any) -> str:
        start, end = values if isinstance(values, (list, tuple)) and len(values) == 2 else (None, None)
        return " / ".join("?" if v is None else f"{v:.0f}" for v in (start, end))

    text = f"Machine speed (GFLOP/s of a fixed float32 matmul, at the start / end): now {pair(now)}"
    if before.get("speed"):
        text += f"; previous bench {pair(before['speed'])}"
    return text + ". Seconds compare only at similar speeds."


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Results of an earlier run by notebook name ({} if there is none or it cannot be read)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return {row["notebook"]: row for row in rows if isinstance(row, dict) and "notebook" in row}


def _change(now: float, before: float) -> str:
    if before == 0:
        return ""
    pct = 100 * (now - before) / abs(before)
    return f" ({pct:+.0f}%)" if abs(pct) >= 1 else ""


def compare(results: list[Any], previous: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of seconds and numeric metrics, now vs ``previous`` (a :func:`load` result)."""
    rows = ["| notebook | status | seconds now (before) | metrics now (before) |", "|---|---|---:|---|"]
    for r in results:
        old = previous.get(r.notebook, {})
        seconds = f"{r.seconds:.0f}"
        if "seconds" in old:
            seconds += f" ({old['seconds']:.0f}){_change(r.seconds, old['seconds'])}"
        parts = []
        for name, value in r.metrics.items():
            if name == "smoke" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            before = old.get("metrics", {}).get(name)
            text = f"{name}={value:.4g}"
            if isinstance(before, (int, float)) and not isinstance(before, bool) and before != value:
                text += f" ({before:.4g})"
            parts.append(text)
        rows.append(f"| {r.notebook} | {r.status} | {seconds} | {', '.join(parts)} |")
    now_total = sum(r.seconds for r in results)
    before_total = sum(previous[r.notebook]["seconds"] for r in results if r.notebook in previous)
    rows.append(f"| **total** | | {now_total:.0f} ({before_total:.0f}) | |")
    return "\n".join(rows)


def write(
    results: list[Any], folder: Path, speed: tuple[float | None, float | None] | None = None
) -> str:
    """Compare with the previous bench in ``folder``, write bench.md, keep this run as the new latest.

    ``speed`` is :func:`machine_speed` at the start and end of this run; with it bench.md starts with a
    :func:`speed_line` and ``machine.json`` keeps it for the next comparison.
    """
    from course_utils.cache import atomic_write_bytes

    folder = Path(folder)
    table = compare(results, load(folder / LATEST))
    if speed is not None:
        try:
            before = json.loads((folder / MACHINE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            before = {}
        table = speed_line(speed, before if isinstance(before, dict) else {}) + "\n\n" + table
        atomic_write_bytes(folder / MACHINE, json.dumps({"speed": list(speed)}).encode("utf-8"))
    payload = json.dumps([asdict(r) | {"output": ""} for r in results], indent=2).encode("utf-8")
    atomic_write_bytes(folder / "bench.md", (table + "\n").encode("utf-8"))
    atomic_write_bytes(folder / "history" / f"{time.strftime('%Y%m%d-%H%M%S')}.json", payload)
    atomic_write_bytes(folder / LATEST, payload)
    return table


def eta(previous: dict[str, dict[str, Any]], remaining: list[str]) -> float | None:
    """Seconds the ``remaining`` notebooks took last time (unknown ones count as the average); None if no data."""
    known = [row["seconds"] for row in previous.values() if isinstance(row.get("seconds"), (int, float))]
    if not known:
        return None
    mean = sum(known) / len(known)
    return sum(previous.get(name, {}).get("seconds", mean) for name in remaining)
