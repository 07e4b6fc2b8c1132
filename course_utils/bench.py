"""The course's benchmark: seconds and headline metrics per notebook, beside the previous run's.

A learner's wait is what the course spends, and a quality drop must not hide behind a faster run. ``make bench``
executes every notebook at default size (``course_utils.runner --bench build/bench``) and writes
``build/bench/bench.md``: for each notebook the seconds now and before, and every numeric metric now and before,
with the changes marked. The run it compares against is the previous bench run (``build/bench/latest.json``).
This is a benchmark to read, not a timed test: nothing fails on seconds.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

LATEST = "latest.json"


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


def write(results: list[Any], folder: Path) -> str:
    """Compare with the previous bench in ``folder``, write bench.md, keep this run as the new latest."""
    from course_utils.cache import atomic_write_bytes

    folder = Path(folder)
    table = compare(results, load(folder / LATEST))
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
