"""course_utils.distributed.launch: bad input fails clearly, a crashing rank is named, nothing is left running."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from course_utils import distributed
from course_utils.distributed import (
    LaunchError,
    LaunchTimeoutError,
    PortInUseError,
    TooManyProcessesError,
    available_cores,
    launch,
    rank_lines,
)

_pgids: list[int] = []


@pytest.fixture(autouse=True)
def _remember_pgids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record the process group of every run, so tests can check that nothing of it survives."""
    real_run = distributed._run

    def run(*args, **kwargs):
        result = real_run(*args, **kwargs)  # (returncode, output, seconds, pgid)
        _pgids.append(result[3])
        return result

    monkeypatch.setattr(distributed, "_run", run)


def _script(folder: Path, body: str) -> Path:
    path = folder / "job.py"
    path.write_text(textwrap.dedent(body))
    return path


def _assert_nothing_left(pgid: int | None) -> None:
    """No process of the run's group and no child of this (test) process survives the launch."""
    assert pgid is not None
    deadline = time.monotonic() + 5
    while True:
        group = [p for p in psutil.process_iter(["pid"]) if _pgid(p) == pgid]
        children = psutil.Process().children(recursive=True)
        if not group and not children:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left running: group {group}, children {children}")
        time.sleep(0.1)


def _pgid(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return _script(tmp_path, 'import os\nprint("hello from rank", os.environ["RANK"], flush=True)\n')


def test_too_many_processes_names_the_fix(hello: Path) -> None:
    cores = available_cores()
    with pytest.raises(TooManyProcessesError, match=rf"nproc={cores + 1}.*nproc <= {cores}"):
        launch(hello, nproc=cores + 1)
    assert psutil.Process().children(recursive=True) == []  # refused before starting anything


@pytest.mark.parametrize("nproc", [0, -1, 1.5, True, "2"])
def test_nproc_must_be_a_positive_int(hello: Path, nproc: object) -> None:
    with pytest.raises((TypeError, ValueError), match="nproc"):
        launch(hello, nproc=nproc)  # type: ignore[arg-type]


def test_missing_script_and_bad_port(tmp_path: Path, hello: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no script"):
        launch(tmp_path / "absent.py", nproc=1)
    with pytest.raises(ValueError, match="port"):
        launch(hello, nproc=1, port=80)


def test_port_in_use_is_reported_before_starting(hello: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert distributed.port_in_use(port)
        with pytest.raises(PortInUseError, match=rf"port {port} is already in use.*port=None"):
            launch(hello, nproc=1, port=port)
    assert psutil.Process().children(recursive=True) == []


@pytest.mark.slow
def test_port_taken_after_the_check_is_reported_by_torchrun(hello: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program takes the port between our check and torchrun: the failure still names the port."""
    monkeypatch.setattr(distributed, "port_in_use", lambda port, host="": False)
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} was taken"):
            launch(hello, nproc=1, port=port, timeout=120)
    _assert_nothing_left(_pgids[-1])


@pytest.mark.slow
def test_a_crash_on_rank_1_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        import os, time
        if os.environ["RANK"] == "1":
            raise RuntimeError("rank one broke")
        time.sleep(120)  # rank 0 'waits at a collective' for rank 1, which never arrives
        """,
    )
    start = time.monotonic()
    with pytest.raises(LaunchError, match=r"rank 1 of 2 exited with code 1") as failure:
        launch(script, nproc=2, timeout=120)
    assert time.monotonic() - start < 60  # stopped at the crash, not at the timeout or rank 0's sleep
    assert failure.value.rank == 1
    assert "RuntimeError: rank one broke" in str(failure.value)  # the traceback tail is in the message
    _assert_nothing_left(failure.value.pgid)


@pytest.mark.slow
def test_a_hung_run_is_killed_at_the_timeout(tmp_path: Path) -> None:
    script = _script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(300)\n")
    start = time.monotonic()
    with pytest.raises(LaunchTimeoutError, match=r"did not finish within 4 s"):
        launch(script, nproc=2, timeout=4)
    assert time.monotonic() - start < 20
    _assert_nothing_left(_pgids[-1])


@pytest.mark.slow
def test_a_leftover_grandchild_is_killed_after_a_successful_run(tmp_path: Path) -> None:
    """A rank that leaves a child behind (holding the output pipe open): the run still ends, the child dies."""
    script = _script(
        tmp_path,
        """
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # inherits our stdout
        print("rank done", flush=True)
        """,
    )
    start = time.monotonic()
    result = launch(script, nproc=1, timeout=120)
    assert result.returncode == 0 and "rank done" in result.rank_output(0)
    assert time.monotonic() - start < 60
    _assert_nothing_left(result.pgid)


@pytest.mark.slow
def test_a_normal_two_process_run_all_reduces(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")
        value = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(value)  # sum over ranks: 1 + 2
        print(f"rank {dist.get_rank()} of {dist.get_world_size()}: sum {value.item()}", flush=True)
        dist.destroy_process_group()
        """,
    )
    result = launch(script, nproc=2, timeout=180)
    assert result.returncode == 0 and result.nproc == 2
    assert result.rank_output(0).strip() == "rank 0 of 2: sum 3.0"
    assert result.rank_output(1).strip() == "rank 1 of 2: sum 3.0"
    _assert_nothing_left(result.pgid)


def test_rank_lines_strips_torchrun_prefixes() -> None:
    output = "[default0]:a\n[default1]:b\nW1123 torchrun says\n[default1]:  c\n"
    assert rank_lines(output, 1) == "b\n  c"
    assert rank_lines(output, 0) == "a"
    assert rank_lines(output, 2) == ""
