"""Execute notebooks headlessly with papermill and summarise them: the engine of ``make test`` and ``make run``.

Each notebook runs in its own papermill process (so a hung notebook can be killed at its timeout) with the
parameters ``SMOKE`` and ``SEED`` injected, working folder ``notebooks/`` and outputs written to ``out_dir``.
The executed copy is then read back for the failing cell (if any) and the metrics recorded with
``course_utils.outcomes.record``.

Command line::

    python -m course_utils.runner notebooks/*.ipynb --out build/run [--smoke] [--jobs 2] [--timeout 900]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course_utils import bench, syllabus
from course_utils.cpu import thread_env, threads_for
from course_utils.fast_papermill import block_slow_imports
from course_utils.outcomes import METRICS_MIME
from course_utils.validation import require_positive_int, require_positive_number, require_seed


@dataclass
class NotebookResult:
    """What one execution gave: status (ok / failed / timeout), time, device, metrics, and the error."""

    notebook: str
    status: str
    seconds: float
    device: str = "?"
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    output: str = ""
    peak_mb: float | None = None  # peak resident memory of papermill and its kernel together (None: not measured)


def read_outcome(executed: Path) -> tuple[dict[str, Any], str]:
    """Metrics recorded in an executed notebook, and a description of its failing cell ('' if none)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    metrics: dict[str, Any] = {}
    error = ""
    added_by_papermill = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [c for c in nb.cells if not added_by_papermill & set(c.get("metadata", {}).get("tags", []))]
    for index, cell in enumerate(cells):  # index as in the source notebook
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if METRICS_MIME in data:
                metrics.update(data[METRICS_MIME])
            if output.get("output_type") == "error" and not error:
                source = "\n".join("    " + line for line in cell.source.splitlines()[:15])
                error = (
                    f"cell {index + 1} of {len(cells)} (In [{cell.get('execution_count')}]) raised "
                    f"{output.get('ename')}: {output.get('evalue')}\n  cell source:\n{source}"
                )
    return metrics, error


def _code(source: str) -> ast.Module | None:
    """A code cell parsed (IPython magics and shell lines blanked out), or None if it does not parse."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _overrides(tree: ast.Module, name: str) -> int | None:
    """Line of a top-level assignment that sets ``name`` without reading it (``SMOKE = False``, not
    ``SMOKE = smoke_mode(SMOKE)``), or None."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        sets = any(isinstance(t, ast.Name) and t.id == name for t in targets)
        reads = any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(value))
        if sets and not reads:
            return node.lineno
    return None


def parameter_problems(notebook: Path, names: list[str]) -> list[str]:
    """Why papermill's injected ``names`` (SMOKE, SEED ...) would not reach ``notebook``'s code ([] when they do).

    papermill puts the injected values in a new cell right after the one cell tagged ``parameters`` (at the
    top when there is none). A cell after that which sets the same name again (``SMOKE = False``) silently
    undoes the injection: the notebook runs in default mode and reports ok although smoke mode was asked for.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        how = "no cell is" if not tagged else f"{len(tagged)} cells (cells {', '.join(str(i + 1) for i in tagged)}) are"
        return [f"{notebook.name}: {how} tagged 'parameters', so papermill cannot put {', '.join(names)} in the "
                "right place; tag exactly one cell, the one that sets SMOKE and SEED, with 'parameters' "
                "(Jupyter: View > Cell Toolbar > Tags; or `make sync`)"]
    found = []
    for index, cell in enumerate(nb.cells[tagged[0] + 1 :], start=tagged[0] + 1):
        tree = _code(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        for name in names:
            line = _overrides(tree, name)
            if line is not None:
                found.append(f"{notebook.name}: cell {index + 1}, line {line} sets {name} again after the injected "
                             f"parameters (cell {tagged[0] + 1} is the one tagged 'parameters'), so the runner's "
                             f"{name} would be ignored; move that assignment into the parameters cell, or tag "
                             "that cell 'parameters' instead")
    return found


def run_notebook(
    notebook: Path,
    out_dir: Path,
    smoke: bool | None,
    seed: int = 0,
    timeout: float = 900,
    threads: int | None = None,
    parameters: dict[str, Any] | None = None,
) -> NotebookResult:
    """Execute one notebook with papermill in a child process and return its result (never raises on failure).

    ``smoke`` None leaves the choice to the notebook, which follows ``COURSE_SMOKE`` (as under nbmake).
    The arguments, and whether the notebook's ``parameters`` cell lets the injected values through
    (:func:`parameter_problems`), are checked before anything runs: a ValueError names what is wrong."""
    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    smoke = _require_smoke(smoke)
    seed = require_seed("seed", seed)
    timeout = require_positive_number("timeout", timeout, example="900 (seconds)")
    if threads is not None:
        threads = require_positive_int("threads", threads, example="2 (or None for the default)")
    if parameters is not None and not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a dict such as {{'EPOCHS': 2}} (or None), got {type(parameters).__name__}")
    problems = parameter_problems(notebook, ["SMOKE", "SEED", *(parameters or {})])
    if problems:
        raise ValueError("; ".join(problems))
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    params = {"SMOKE": smoke, "SEED": seed, **(parameters or {})}
    cmd = [sys.executable, "-m", "course_utils.fast_papermill", str(notebook), str(executed)]  # papermill, faster
    cmd += ["--cwd", str(notebook.parent)]
    cmd += ["--kernel", "python3", "--no-progress-bar", "--log-level", "WARNING"]
    for key, value in params.items():
        cmd += ["-p", key, str(value)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", COURSE_HEADLESS="1")  # saved bars: finished lines, not widgets
    if smoke is not None:
        env["COURSE_SMOKE"] = "1" if smoke else "0"
    if threads:
        env.update(thread_env(threads))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    watcher = PeakMemory(proc.pid)
    try:
        output, _ = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # papermill and its kernel
        output, _ = proc.communicate()
        status = "timeout"
    finally:
        peak_mb = watcher.stop()
    seconds = time.perf_counter() - start
    metrics, error = read_outcome(executed) if executed.is_file() else ({}, "")
    if status == "timeout":
        error = f"did not finish within {timeout:.0f} s (per-notebook timeout); last cells ran: see {executed}"
    elif status == "failed" and not error:
        error = output.strip().splitlines()[-1] if output.strip() else f"papermill exited {proc.returncode}"
    device = str(metrics.pop("device", "?"))
    if executed.is_file():
        stamp_run(executed, seconds=seconds, device=device, smoke=smoke, seed=seed, metrics=metrics, status=status)
    return NotebookResult(notebook.name, status, round(seconds, 1), device, metrics, error, output[-4000:], peak_mb)


# The libraries whose versions a run's stamp names (the website shows them beside the outputs).
STAMPED_PACKAGES = ("torch", "torchvision", "transformers", "datasets", "tokenizers", "peft", "trl", "accelerate")
STAMP_KEY = "course_run"


def stamp_run(executed: Path, seconds: float, device: str, smoke: bool | None, seed: int,
              metrics: dict[str, Any], status: str) -> dict[str, Any]:
    """Write what produced an executed notebook into its metadata (``course_run``): when it finished, how long it
    took, the device, mode, seed, the main packages' versions (this process runs the kernel's environment) and
    the headline metrics. The course website prints it as each page's freshness stamp."""
    import datetime
    import platform
    from importlib import metadata

    import nbformat

    versions = {}
    for name in STAMPED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    stamp = {
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1), "device": device, "smoke": smoke, "seed": seed, "status": status,
        "python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": versions, "metrics": metrics,
    }
    nb = nbformat.read(executed, as_version=4)
    nb.metadata[STAMP_KEY] = stamp
    tmp = executed.with_name(executed.name + ".tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, executed)
    return stamp


class PeakMemory:
    """Samples the resident memory of a process and all its descendants (papermill, the kernel, the processes the
    kernel starts) twice a second in a thread; :meth:`stop` returns the largest total, in MB."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-memory", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._done.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):  # a child may exit between listing and reading
                        total += process.memory_info().rss
            except psutil.Error:  # the root has exited
                return
            self.peak = max(self.peak, total)
            self._done.wait(self.interval)

    def stop(self) -> float | None:
        """Stop sampling; the peak in MB (None if no sample was taken)."""
        self._done.set()
        self._thread.join(timeout=5)
        return round(self.peak / 2**20, 1) if self.peak else None


def run_all(
    notebooks: list[Path],
    out_dir: Path,
    smoke: bool | None,
    seed: int = 0,
    jobs: int = 1,
    timeout: float = 900,
) -> list[NotebookResult]:
    """Execute notebooks, ``jobs`` at a time (threads split between them), and write summary.json/.md.

    Every notebook's parameters cell is checked before the first one starts, so a batch fails in seconds,
    not after an hour."""
    jobs = require_positive_int("jobs", jobs, example="2")
    smoke = _require_smoke(smoke)
    seed = require_seed("seed", seed)
    timeout = require_positive_number("timeout", timeout, example="900 (seconds)")
    problems = [p for nb in notebooks for p in parameter_problems(Path(nb), ["SMOKE", "SEED"])]
    if problems:
        raise ValueError("; ".join(problems))
    threads = threads_for(jobs) if jobs > 1 else None
    out = Path(out_dir)
    previous = bench.load(out / "summary.json")  # the last run into this folder: its times give the ETA
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_notebook, nb, out_dir, smoke, seed, timeout, threads) for nb in notebooks]
        results = []
        for index, future in enumerate(futures):
            result = future.result()
            results.append(result)
            left = bench.eta(previous, [nb.name for nb in notebooks[index + 1 :]])
            eta = f" | ETA {_clock(left / jobs)}" if left is not None and index + 1 < len(notebooks) else ""
            elapsed = _clock(time.perf_counter() - start)
            print(f"[{result.status:>7}] {result.notebook} {result.seconds:.0f}s | total {elapsed}{eta}", flush=True)
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    (out / "summary.md").write_text(summary_table(results) + "\n")
    return results


def _require_smoke(smoke: object) -> bool | None:
    if smoke is not None and not isinstance(smoke, bool):
        raise TypeError(f"smoke must be True (tiny sizes), False (full sizes) or None (the notebook follows "
                        f"COURSE_SMOKE), got {smoke!r}")
    return smoke


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def _format_metric(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summary_table(results: list[NotebookResult]) -> str:
    """A Markdown table: notebook, status, seconds, device and headline metrics."""
    rows = ["| notebook | status | seconds | peak MB | device | metrics |", "|---|---|---:|---:|---|---|"]
    for r in results:
        metrics = ", ".join(f"{k}={_format_metric(v)}" for k, v in r.metrics.items() if k != "smoke")
        peak = f"{r.peak_mb:.0f}" if r.peak_mb else "?"
        rows.append(f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {peak} | {r.device} | {metrics} |")
    total = sum(r.seconds for r in results)
    rows.append(f"| **total** | {sum(r.status == 'ok' for r in results)}/{len(results)} ok | {total:.1f} | | | |")
    return "\n".join(rows)


def gpu_notebooks(notebooks: list[Path]) -> list[Path]:
    """The notebooks among ``notebooks`` that choose sizes with ``gpu_sizes(...)`` (they have a GPU branch)."""
    return [nb for nb in notebooks if "gpu_sizes(" in Path(nb).read_text(encoding="utf-8")]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 if any notebook failed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/run"))
    parser.add_argument("--smoke", action="store_const", const=True, default=None,
                        help="tiny sizes (as in the tests); without it COURSE_SMOKE decides, as in the notebooks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--bench", type=Path, help="also write FOLDER/bench.md: seconds and metrics vs last bench")
    parser.add_argument("--gpu-dry", action="store_true",
                        help="the GPU-sized dry run on this device: only the notebooks with GPU sizes, with "
                             "COURSE_SIZES=gpu and COURSE_MAX_STEPS (default 2) (course_utils.sizes)")
    args = parser.parse_args(argv)
    block_slow_imports()  # this process reads the executed notebooks with nbformat too
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.gpu_dry:
        if args.smoke or args.bench:
            parser.error("--gpu-dry runs the GPU sizes with capped loops: it does not combine with --smoke or --bench")
        args.notebooks = gpu_notebooks(args.notebooks)
        args.smoke = False
        os.environ["COURSE_SIZES"] = "gpu"
        os.environ.setdefault("COURSE_MAX_STEPS", "2")
        print(f"GPU-sized dry run (COURSE_SIZES=gpu, COURSE_MAX_STEPS={os.environ['COURSE_MAX_STEPS']}) of "
              f"{', '.join(nb.name for nb in args.notebooks)}", flush=True)
    speed_start = bench.machine_speed() if args.bench else None  # is the machine as fast as last time?
    problems = [p for nb in args.notebooks for p in parameter_problems(nb, ["SMOKE", "SEED"])]
    if problems:
        parser.error("\n".join(problems))
    start = time.perf_counter()
    results = run_all(sorted(args.notebooks), args.out, args.smoke, args.seed, args.jobs, args.timeout)
    speed = (speed_start, bench.machine_speed()) if args.bench else None
    print()
    print(summary_table(results))
    print(f"\nwall time {time.perf_counter() - start:.0f} s; executed notebooks and summary in {args.out}/")
    if args.bench:
        print(f"\nbenchmark (now vs the previous bench run), also in {args.bench / 'bench.md'}:\n")
        print(bench.write(results, args.bench, speed))
        default_runs = [r for r in results if r.metrics.get("smoke") is False]  # a smoke run's seconds mean nothing
        if default_runs:
            stored = syllabus.record_run_times(default_runs, syllabus.measured_on())
            print(f"\nrun times of {len(stored)} notebooks stored in {syllabus.RUN_TIMES.name}", flush=True)
            syllabus.main([])  # and the README's syllabus table follows
    for r in results:
        if r.status != "ok":
            print(f"\n{r.notebook} {r.status}: {r.error}", file=sys.stderr)
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
