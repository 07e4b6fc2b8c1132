"""One environment, tested: the ranges we support, the lock we test and install, and what they generate.

- ``requirements.txt`` holds the ranges (a floor each version ``make floor`` passed with, a ceiling at the next
  major release); ``requirements-nodeps.txt`` the two packages installed without their dependencies.
- ``requirements.lock`` holds the exact versions ``make setup`` installs and CI tests, for Linux, macOS and
  Windows (Python 3.11+), compiled from the ranges with ``uv pip compile --universal`` (``make lock``).
- ``course_utils/pinned.py`` is generated from both, so that the set-up cell of a notebook (which runs where
  only the package is installed, not the checkout) knows the ranges and the locked versions.
- ``environment.yml``'s "tested X" comments are the locked versions, rewritten by ``make lock`` too.

:func:`disagreements` lists every way these drift apart (a test fails on any); :func:`installed_problems`
compares the running environment with the lock (the fresh-clone test and the doctor use it).
``python -m course_utils.lock compile`` is ``make lock``; ``validate`` checks the files' syntax (``make setup``
runs it before pip, so a corrupt line is named instead of failing inside pip).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANGES_FILE = ROOT / "requirements.txt"
NODEPS_FILE = ROOT / "requirements-nodeps.txt"
LOCK_FILE = ROOT / "requirements.lock"
CONDA_FILE = ROOT / "environment.yml"
PINNED_FILE = Path(__file__).resolve().parent / "pinned.py"
PYTHON_FLOOR = "3.11"  # transformers >= 5.21 needs Python 3.11: the lock covers 3.11 and newer
# The torch this CI machine provides (its wheels lie on its disk; another torch is a multi-GB download). The
# lock pins these; learners' set-up cells never replace the runtime's own torch.
MACHINE = {"torch": "2.14.1", "torchvision": "0.29.1"}

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_RANGE_LINE = re.compile(rf"^(?P<name>{_NAME})(?P<extras>\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?|===)[^;#]*)?$")
_LOCK_LINE = re.compile(rf"^(?P<name>{_NAME})==(?P<version>[0-9][A-Za-z0-9.+!-]*)\s*(?:;\s*(?P<marker>.+))?$")
_CONDA_LINE = re.compile(r"^\s*-\s+(?P<req>[A-Za-z0-9][^#]*?)\s*(?:#\s*tested\s+(?P<tested>\S+).*)?$")
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}  # conda-forge name -> PyPI name


def nodeps_file() -> Path:
    """requirements-nodeps.txt beside the (possibly redirected) ranges file."""
    return RANGES_FILE.with_name(NODEPS_FILE.name)


class LockFileError(ValueError):
    """A requirements or lock file has a line the course's tools cannot read; the message names file and line."""


def canonical(name: str) -> str:
    """The normalised distribution name (PEP 503): lower case, runs of ``-_.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _content_lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise LockFileError(f"{path} is missing: restore it from git (git checkout -- {path.name})")
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append((number, line))
    return out


def read_ranges(path: Path | None = None) -> dict[str, str]:
    """``{distribution: specifier}`` of a requirements file of ranges; a malformed or repeated line is an error."""
    path = RANGES_FILE if path is None else path
    ranges: dict[str, str] = {}
    for number, line in _content_lines(path):
        match = _RANGE_LINE.match(line)
        if match is None:
            raise LockFileError(f"{path.name}:{number}: cannot read {line!r}: write 'name>=low,<high'")
        name = canonical(match["name"])
        if match["spec"] and not _valid_specifier(match["spec"]):
            raise LockFileError(f"{path.name}:{number}: {line!r} is not a version range: write 'name>=low,<high'")
        if name in ranges:
            raise LockFileError(f"{path.name}:{number}: {name} is listed twice: keep one line")
        ranges[name] = (match["spec"] or "").replace(" ", "")
    return ranges


def _valid_specifier(spec: str) -> bool:
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # a bare venv (make setup, before pip installs anything): pip's own copy
        # The same classes under another module name, so mypy sees two types for one name.
        from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet  # type: ignore[assignment]
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        return False
    return True


def read_lock(path: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """``{distribution: [(version, marker), ...]}`` of the lock (a package may have one version per platform)."""
    path = LOCK_FILE if path is None else path
    pins: dict[str, list[tuple[str, str]]] = {}
    for number, line in _content_lines(path):
        match = _LOCK_LINE.match(line)
        if match is None:
            raise LockFileError(
                f"{path.name}:{number}: cannot read {line!r}: a lock line is 'name==version' with an optional "
                "'; marker'. Regenerate the lock with: make lock"
            )
        pins.setdefault(canonical(match["name"]), []).append((match["version"], (match["marker"] or "").strip()))
    return pins


# requirements.txt: the tools after this header are not a learner's
DEVELOPER_SECTION = "# tests, lint and the environment tools"
CUDA_STACK = ("nvidia-", "cuda-", "triton")  # what PyPI's Linux torch wheel brings for the GPU (about 4 GB)
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def developer_tools(path: Path | None = None) -> set[str]:
    """The distributions listed after requirements.txt's developer header: tests, lint and environment tools."""
    path = RANGES_FILE if path is None else path
    text = path.read_text(encoding="utf-8")
    if DEVELOPER_SECTION not in text:
        raise LockFileError(f"{path.name} has no line starting with {DEVELOPER_SECTION!r}: the learner install "
                            "needs it to tell the developer tools apart")
    return set(read_ranges(path)) - set(_ranges_of(text.split(DEVELOPER_SECTION, 1)[0]))


def _ranges_of(text: str) -> dict[str, str]:
    names = {}
    for raw in text.splitlines():
        match = _RANGE_LINE.match(raw.split("#", 1)[0].strip())
        if match is not None:
            names[canonical(match["name"])] = match["spec"] or ""
    return names


def required_by(path: Path | None = None) -> dict[str, set[str]]:
    """``{distribution: what requires it}`` from the lock's ``# via`` comments; ``"-r"`` marks a direct one."""
    path = LOCK_FILE if path is None else path
    parents: dict[str, set[str]] = {}
    current: str | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _LOCK_LINE.match(raw.strip()) if not raw.startswith((" ", "#")) else None
        if match is not None:
            current = canonical(match["name"])
            parents.setdefault(current, set())
            continue
        comment = raw.strip().lstrip("#").strip()
        if current is None or not comment:
            continue
        if comment.startswith("via"):
            comment = comment[3:].strip()
        if comment.startswith("-r"):
            parents[current].add("-r")
        elif comment and not comment.startswith("-"):
            parents[current].add(canonical(comment))
    return parents


def install_set(*, learner: bool = False, cpu_torch: bool = False, path: Path | None = None) -> set[str]:
    """The lock's distributions an install needs.

    The developer install (the default, what ``make test`` uses) is the whole lock. A learner install keeps what
    the notebooks need: every direct requirement but the developer tools, and everything those require, found
    through the lock's ``# via`` comments. ``cpu_torch`` also leaves out PyPI's CUDA stack (``nvidia-*``,
    ``cuda-*``, ``triton``) and what only it needs, for a torch installed from the CPU-only index.
    """
    parents = required_by(path)
    if not learner and not cpu_torch:
        return set(parents)
    tools = developer_tools() if learner else set()
    keep = {name for name, via in parents.items() if "-r" in via and name not in tools}
    excluded = {name for name in parents if cpu_torch and name.startswith(CUDA_STACK)}
    keep -= excluded
    while True:
        more = {name for name, via in parents.items() if name not in keep | excluded and via & keep}
        if not more:
            return keep
        keep |= more


def install_lines(names: set[str], path: Path | None = None) -> list[str]:
    """The lock's lines (``name==version ; marker``) of ``names``, in the lock's order, for ``pip install -r``."""
    path = LOCK_FILE if path is None else path
    return [line for _, line in _content_lines(path)
            if (match := _LOCK_LINE.match(line)) is not None and canonical(match["name"]) in names]


def pick(entries: list[tuple[str, str]] | tuple[tuple[str, str], ...], env: dict[str, str] | None = None) -> str | None:
    """The version among a package's lock entries whose marker holds here (or in ``env``); None if none does."""
    from packaging.markers import Marker

    for version, marker in entries:
        if not marker or Marker(marker).evaluate(env):
            return version
    return None


def pinned_source(
    ranges: dict[str, str],
    nodeps: dict[str, str],
    lock: dict[str, list[tuple[str, str]]],
    developer: set[str] | None = None,
) -> str:
    """The text of ``course_utils/pinned.py``: the direct packages' ranges and locked versions, and which of
    them are developer tools (``developer``, default :func:`developer_tools`: a learner install leaves them out)."""
    direct = {**ranges, **nodeps}
    developer = developer_tools() if developer is None else developer
    lines = [
        '"""Generated by `make lock` from requirements.txt, requirements-nodeps.txt and requirements.lock.',
        "Do not edit: run make lock.",
        "",
        "The set-up cell of every notebook runs where only this package is installed (Colab), not the checkout,",
        "so it reads the supported ranges and the locked versions from here. tests/test_lock.py keeps it in step.",
        '"""',
        "",
        f'PYTHON_FLOOR = "{PYTHON_FLOOR}"',
        "",
        "# Tests, lint and environment tools: a learner install (make learner) leaves them out.",
        "DEVELOPER_TOOLS: frozenset[str] = frozenset({",
        *(f'    "{name}",' for name in sorted(developer)),
        "})",
        "",
        "RANGES: dict[str, str] = {",
        *(f'    "{name}": "{spec}",' for name, spec in sorted(direct.items())),
        "}",
        "",
        "LOCKED: dict[str, tuple[tuple[str, str], ...]] = {",
    ]
    for name in sorted(direct):
        entries = lock.get(name) or [(direct[name].removeprefix("=="), "")]
        body = ", ".join(f'("{version}", "{marker}")' for version, marker in entries)
        lines.append(f'    "{name}": ({body},),')
    lines += ["}", ""]
    return "\n".join(lines)


def _conda_rows(path: Path | None = None) -> dict[str, tuple[str, str | None]]:
    path = CONDA_FILE if path is None else path
    rows: dict[str, tuple[str, str | None]] = {}
    text = path.read_text(encoding="utf-8")
    for raw in text[text.index("dependencies:") :].splitlines():
        match = _CONDA_LINE.match(raw)
        if match is None or match["req"].startswith(("pip", "-e", "python")):
            continue
        req = match["req"].split(":")[0].strip()
        found = _RANGE_LINE.match(req.replace(" ", ""))
        if found is None:
            continue
        name = canonical(CONDA_NAMES.get(found["name"], found["name"]))
        rows[name] = ((found["spec"] or "").replace(" ", ""), match["tested"])
    return rows


def conda_source(lock: dict[str, list[tuple[str, str]]], path: Path | None = None) -> str:
    """environment.yml with each "tested X" comment set to the locked version (what ``make lock`` writes)."""
    path = CONDA_FILE if path is None else path
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _CONDA_LINE.match(raw)
        if match is not None and match["tested"]:
            found = _RANGE_LINE.match(match["req"].replace(" ", ""))
            name = canonical(CONDA_NAMES.get(found["name"], found["name"])) if found else ""
            version = pick(
                lock.get(name, []),
                {
                    "python_full_version": "3.11.0",
                    "python_version": "3.11",
                    "sys_platform": "linux",
                    "platform_system": "Linux",
                },
            )
            if version:
                raw = re.sub(r"#\s*tested\s+\S+", f"# tested {version}", raw)
        out.append(raw)
    return "\n".join(out) + "\n"


def disagreements() -> list[str]:
    """Every way the ranges, the lock, pinned.py, environment.yml and the notebooks' set-up code disagree."""
    from packaging.specifiers import SpecifierSet

    from course_utils import bootstrap, environment, pinned

    problems = []
    ranges, nodeps, lock = read_ranges(), read_ranges(nodeps_file()), read_lock()
    for name, spec in {**ranges, **nodeps}.items():
        if name not in lock and name not in nodeps:
            problems.append(f"{name} is in requirements.txt but not in requirements.lock: run make lock")
            continue
        for version, _marker in lock.get(name, []):
            if version not in SpecifierSet(spec):
                problems.append(f"the lock's {name}=={version} is outside requirements.txt's {spec}: run make lock")
    for name, version in MACHINE.items():
        if [v for v, _ in lock.get(name, [])] != [version]:
            problems.append(f"the lock must pin {name}=={version} (the machine's torch), has {lock.get(name)}")
    if pinned_source(ranges, nodeps, lock) != PINNED_FILE.read_text(encoding="utf-8"):
        problems.append("course_utils/pinned.py is out of step with the requirements files: run make lock")
    if conda_source(lock) != CONDA_FILE.read_text(encoding="utf-8"):
        problems.append("environment.yml's 'tested' comments differ from the lock: run make lock")
    conda = _conda_rows()
    for name in ranges:
        if name not in conda:
            problems.append(f"requirements.txt lists {name}, environment.yml does not: add it there")
    for name, (spec, _tested) in conda.items():
        want = ranges.get(name, nodeps.get(name))
        if want is None:
            problems.append(f"environment.yml lists {name}, requirements.txt does not")
        elif SpecifierSet(spec) != SpecifierSet(want):
            problems.append(f"environment.yml says {name}{spec}, requirements.txt {name}{want}")
    for dist in [*bootstrap.RUNTIME.values(), *bootstrap.NO_DEPS.values(), *bootstrap.TORCH.values()]:
        if dist not in pinned.RANGES:
            problems.append(f"bootstrap installs {dist}, which requirements.txt does not list")
    for name, (low, high) in environment.TESTED.items():
        if SpecifierSet(f">={low},<{high}") != SpecifierSet(ranges.get(name, "")):
            problems.append(f"environment.TESTED[{name!r}] = [{low}, {high}) differs from {name}{ranges.get(name)}")
    return problems


@dataclass(frozen=True)
class Installed:
    """One direct dependency: installed version vs the lock's version for this platform and the range."""

    name: str
    installed: str | None
    locked: str | None
    range: str

    @property
    def status(self) -> str:
        """'ok' (the locked version), 'differs' (in range, not locked), 'outside' (range) or 'missing'."""
        from packaging.specifiers import SpecifierSet

        if self.installed is None:
            return "missing"
        if self.installed == self.locked or self.installed.split("+")[0] == self.locked:
            return "ok"
        return "differs" if SpecifierSet(self.range).contains(self.installed, prereleases=True) else "outside"


def installed_rows(names: list[str] | None = None) -> list[Installed]:
    """The running environment's direct dependencies against the lock (generated pinned.py: works anywhere)."""
    from course_utils import pinned

    rows = []
    for name in names or sorted(pinned.RANGES):
        try:
            version: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        rows.append(Installed(name, version, pick(pinned.LOCKED.get(name, ())), pinned.RANGES[name]))
    return rows


def installed_problems() -> list[str]:
    """Direct dependencies whose installed version is not the locked one ([] after ``make setup``)."""
    return [f"{r.name}: installed {r.installed}, locked {r.locked}" for r in installed_rows() if r.status != "ok"]


def uv_binary() -> str:
    """The uv executable (a requirement of the developer set); a clear error where it is missing."""
    found = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise FileNotFoundError("uv is not installed: run make setup (it installs uv from requirements.lock)")
    return found


def uv_compile(ranges: Path, out: Path, *extra: str, constraints: dict[str, str] | None = None) -> None:
    """``uv pip compile`` of ``ranges`` into ``out``; a failure names the package uv could not resolve."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [uv_binary(), "pip", "compile", "--quiet", str(ranges), "-o", str(out), *extra]
        if constraints:
            pins = Path(tmp) / "constraints.txt"
            pins.write_text("".join(f"{n}=={v}\n" for n, v in constraints.items()))
            args += ["-c", str(pins)]
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        detail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise LockFileError(
            f"uv could not resolve {ranges.name} (a package or version that does not exist, or no "
            f"network to the package index?):\n{detail}"
        )


def compile_lock() -> Path:
    """``make lock``: resolve requirements.txt for every platform, then write pinned.py and environment.yml."""
    read_ranges(), read_ranges(nodeps_file())  # a malformed line is named before uv runs
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "requirements.lock"
        uv_compile(
            RANGES_FILE,
            fresh,
            "--universal",
            "--python-version",
            PYTHON_FLOOR,
            "--custom-compile-command",
            "make lock",
            constraints=MACHINE,
        )
        LOCK_FILE.write_text(fresh.read_text(encoding="utf-8"), encoding="utf-8")
    lock = read_lock()
    PINNED_FILE.write_text(pinned_source(read_ranges(), read_ranges(nodeps_file()), lock), encoding="utf-8")
    CONDA_FILE.write_text(conda_source(lock), encoding="utf-8")
    return LOCK_FILE


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.lock compile|validate|check|plan|installed``."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "check"
    try:
        if command == "compile":
            path = compile_lock()
            print(f"wrote {path.name} ({len(read_lock())} packages), course_utils/pinned.py and environment.yml")
        elif command == "validate":
            read_ranges(), read_ranges(nodeps_file()), read_lock()
        elif command == "check":
            problems = disagreements()
            print("\n".join(problems) or "ranges, lock, pinned.py, environment.yml and bootstrap agree")
            return 1 if problems else 0
        elif command == "plan":
            # python -m course_utils.lock plan [--learner] [--cpu-torch]: the lock lines that install needs
            names = install_set(learner="--learner" in args, cpu_torch="--cpu-torch" in args)
            print("\n".join(install_lines(names)))
        elif command == "installed":
            problems = installed_problems()
            print("\n".join(problems) or "every direct dependency is at its locked version")
            return 1 if problems else 0
        else:
            print("usage: python -m course_utils.lock compile|validate|check|plan [--learner] [--cpu-torch]|installed",
                  file=sys.stderr)
            return 2
    except (LockFileError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
