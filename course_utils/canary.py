"""``make floor`` and ``make canary``: the course's tests on the oldest and the newest versions its ranges allow.

Both build a throwaway virtual environment (never the lock's ``.venv``), resolve the direct dependencies of
requirements.txt with uv for this Python (``--resolution lowest-direct`` for the floor, the newest for the
canary), install exactly those versions with pip, and run the unit tests and every notebook in smoke mode.

- The **floor** proves the lower bounds: each floor in requirements.txt is a version this run passed with.
  torch stays the machine's (``lock.MACHINE``): its older CPU wheel (2.13.0+cpu) lies on disk, but PyPI's
  torchvision 0.28 is built for the CUDA torch and fails beside it (``operator torchvision::nms does not
  exist``), so the torch floor is the version tested. A floor the run fails is raised, and the comment in
  requirements.txt says which API set it.
- The **canary** warns of upstream breaks before a learner meets them: the newest releases in range. CI runs it
  after the gating steps; it does not gate (the lock is what ships), but its table is printed and a failure is
  named prominently.

Output: ``<out>/report.md`` (package, locked, resolved, newer/older, and the suite's result), ``<out>/pytest.log``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_utils import lock

MODES = {"floor": "lowest-direct", "canary": "highest"}
# Everything but the fresh-runtime test, and but the two tests that assert the venv *is* the lock.
SUITE = [
    "-m",
    "pytest",
    "-q",
    "-n",
    "2",
    "-m",
    "not fresh",
    "-p",
    "no:cacheprovider",
    "--timeout=900",
    "--deselect",
    "tests/test_lock.py::test_every_locked_package_is_installed_at_its_locked_version",
    "--deselect",
    "tests/test_lock.py::test_set_up_cell_changes_nothing_in_the_locked_environment",
    "--deselect",
    "tests/test_doctor.py::test_the_locked_environment_is_healthy",
]


def resolve(mode: str, ranges: Path | None = None, python_version: str | None = None) -> dict[str, str]:
    """The direct dependencies' versions the ``mode`` picks from ``ranges`` (requirements.txt) for this Python."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    ranges = lock.RANGES_FILE if ranges is None else ranges
    direct = lock.read_ranges(ranges)
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    torch = {k: v for k, v in lock.MACHINE.items() if k in direct}  # the only torch this machine can run
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "resolved.txt"
        lock.uv_compile(ranges, out, "--resolution", MODES[mode], "--python-version", version, constraints=torch)
        resolved = {name: entries[0][0] for name, entries in lock.read_lock(out).items()}
    return {name: resolved[name] for name in direct}


def build_venv(folder: Path, pins: dict[str, str]) -> Path:
    """A new venv in ``folder`` with exactly ``pins`` (their own dependencies resolved by pip) and the course."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def pip(*args: str) -> None:
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(line for line in proc.stderr.splitlines() if "is ignored" not in line)[-3000:]
            raise RuntimeError(f"pip could not install the resolved versions:\n{tail}")

    pip(*(f"{name}=={version}" for name, version in sorted(pins.items())))
    pip("--no-deps", "-r", str(lock.NODEPS_FILE))
    pip("--no-deps", "-e", str(lock.ROOT))
    return python


def run_suite(python: Path, log: Path, extra: list[str]) -> tuple[bool, str, float]:
    """The unit tests and smoke notebooks in the throwaway venv; (passed, pytest's closing line, seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(COURSE_SMOKE="1", HF_HUB_OFFLINE="1", PYTHONHASHSEED="0", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    proc = subprocess.run([str(python), *SUITE, *extra], capture_output=True, text=True, env=env, cwd=lock.ROOT)
    seconds = time.perf_counter() - start
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    closing = [line.strip("= ") for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return proc.returncode == 0, (closing[-1] if closing else f"pytest exited {proc.returncode}"), seconds


def failures(log: Path) -> list[str]:
    """The FAILED/ERROR lines of pytest's short summary."""
    return [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith(("FAILED", "ERROR"))]


def table(mode: str, pins: dict[str, str]) -> list[str]:
    """Markdown rows: package, locked version, this mode's version, and how they compare."""
    from packaging.version import Version

    locked = lock.read_lock()
    rows = [f"| package | locked | {mode} | |", "|---|---|---|---|"]
    for name, version in sorted(pins.items()):
        want = lock.pick(locked.get(name, [])) or "-"
        if want == "-":
            how = ""
        elif Version(version) == Version(want):
            how = "same"
        else:
            how = "newer" if Version(version) > Version(want) else "older"
        rows.append(f"| {name} | {want} | {version} | {how} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.canary floor|canary [--out DIR] [-- pytest args]``; exit 1 when the suite fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--out", type=Path, default=None, help="report folder (default build/<mode>)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. a test file")
    args = parser.parse_args(argv)
    out = args.out or lock.ROOT / "build" / args.mode
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pins = resolve(args.mode)
    print(f"{args.mode}: resolved {len(pins)} direct dependencies ({MODES[args.mode]}); building a throwaway venv")
    python = build_venv(out / "venv", pins)
    built = time.perf_counter() - start
    ok, closing, seconds = run_suite(python, out / "pytest.log", args.pytest_args)
    verdict = "PASS" if ok else "FAIL"
    lines = [
        f"# {args.mode}: {verdict} ({closing}; venv {built:.0f} s, tests {seconds:.0f} s)",
        "",
        *table(args.mode, pins),
        "",
    ]
    if not ok:
        lines += ["Failing tests (full log: pytest.log):", "", *(f"- {f}" for f in failures(out / "pytest.log"))]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    if not ok:
        print(f"!!! {args.mode.upper()} FAILED: the course breaks on these versions (see {out / 'report.md'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
