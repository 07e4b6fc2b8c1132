"""``python -m course_utils.doctor`` (``make doctor``): is this environment the one the course tested?

It prints Python, the OS, the device, every course package's installed version against the lock and the
supported range, the Bible corpus and the cache, and for each problem the command that fixes it. The exit
status is 1 when something would break a notebook (a package missing or outside its range, Python too old,
an unwritable cache), 0 otherwise; a package in range but not at its locked version is a warning only.
It imports no deep-learning library before it has checked the versions, so it works in a broken environment.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field

from course_utils import lock, pinned


@dataclass
class Report:
    """Lines to print, the problems (break a notebook) and the warnings (untested but in range)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def python_section(report: Report) -> None:
    """Python and OS; a Python older than the lock's floor is a problem."""
    version = ".".join(map(str, sys.version_info[:3]))
    report.lines.append(
        f"python {version} ({sys.executable}) | {platform.system()} {platform.release()} {platform.machine()}"
    )
    floor = tuple(int(p) for p in pinned.PYTHON_FLOOR.split("."))
    if sys.version_info[:2] < floor:
        report.problems.append(
            f"Python {version} is older than {pinned.PYTHON_FLOOR}: create the venv with Python "
            f"{pinned.PYTHON_FLOOR} or newer (PYTHON=python3.11 make setup)"
        )


def packages_section(report: Report) -> None:
    """Each direct dependency: installed, locked, range, status."""
    rows = lock.installed_rows()
    width = max(len(r.name) for r in rows)
    report.lines.append(f"{'package':<{width}}  {'installed':<14} {'locked':<12} {'range':<16} status")
    for row in rows:
        report.lines.append(
            f"{row.name:<{width}}  {row.installed or '-':<14} {row.locked or '-':<12} {row.range:<16} {row.status}"
        )
        if row.status == "missing" and row.name in pinned.DEVELOPER_TOOLS:
            report.warnings.append(f"{row.name} is not installed: a developer tool (tests, lint), which a learner "
                                   "install leaves out; make setup installs it")
        elif row.status == "missing":
            report.problems.append(f"{row.name} is not installed: run make setup (or pip install -r requirements.lock)")
        elif row.status == "outside":
            fix = (
                ("the course never replaces torch: install torch" + row.range)
                if row.name.startswith("torch")
                else f"pip install '{row.name}=={row.locked}' (or make setup)"
            )
            report.problems.append(f"{row.name} {row.installed} is outside the supported {row.range}: {fix}")
        elif row.status == "differs":
            report.warnings.append(
                f"{row.name} {row.installed} is in range but not the tested {row.locked}: make setup installs the lock"
            )


def device_section(report: Report) -> None:
    """The device the notebooks will use (only once torch is known to import)."""
    try:
        from course_utils.environment import get_device

        device = get_device()
    except Exception as error:  # a broken torch install: the doctor's job is to say so, not to crash
        report.problems.append(f"torch does not import ({type(error).__name__}: {error}): run make setup")
        return
    name = ""
    if device.type == "cuda":
        import torch

        name = f" ({torch.cuda.get_device_name(device)})"
    report.lines.append(f"device: {device}{name}")


def corpus_section(report: Report) -> None:
    """Where the Bible corpus (notebooks 09-12) comes from: Debian's packages, the download cache, or nowhere yet."""
    from course_utils import bible

    folder = bible.sword_dir()
    if bible._has_modules(folder):
        report.lines.append(f"Bible corpus: Debian packages in {folder}")
        return
    from course_utils.cache import cache_dir

    downloaded = next((p for p in sorted(cache_dir("corpora").glob("sword-modules*")) if bible._has_modules(p)), None)
    if downloaded is not None and bible._has_modules(downloaded):
        report.lines.append(f"Bible corpus: downloaded once into {downloaded}")
        return
    report.lines.append("Bible corpus: not here yet")
    report.warnings.append(
        "the Bible corpus (notebooks 09-12) is not installed: as root, make setup installs "
        "sword-text-web and sword-text-sparv; elsewhere notebook 09 downloads them once (6.7 MB)"
    )


def cache_section(report: Report) -> None:
    """The cache folder: where, how big, writable."""
    from course_utils.cache import cache_dir

    try:
        folder = cache_dir()
    except OSError as error:
        report.problems.append(f"the cache folder cannot be used: {error}")
        return
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
    report.lines.append(f"cache: {folder} ({len(entries)} entries, {size / 1e6:.0f} MB; COURSE_CACHE_DIR moves it)")
    probe = folder / f".doctor-{os.getpid()}"
    try:
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        report.problems.append(
            f"the cache folder {folder} is not writable ({error}): set COURSE_CACHE_DIR to a writable folder"
        )


def diagnose() -> Report:
    """Run every check; nothing is changed except a probe file in the cache."""
    report = Report()
    python_section(report)
    packages_section(report)
    if not any("torch" in p for p in report.problems):
        device_section(report)
        corpus_section(report)
        cache_section(report)
    return report


def main(argv: list[str] | None = None) -> int:
    """Print the report; exit 1 when a notebook would break."""
    report = diagnose()
    print("\n".join(report.lines))
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    verdict = "problems found" if report.problems else "this environment is the one the course tested"
    if not report.problems and report.warnings:
        verdict = "ready (see the warnings)"
    print(f"doctor: {verdict}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
