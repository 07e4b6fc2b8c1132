"""Launch a multi-process (data-parallel) run from a notebook or a test, safely: the helper of notebook 14.

``launch("train.py", nproc=2)`` runs ``torchrun --nproc_per_node 2 train.py`` with the interpreter of this
environment (``sys.executable -m torch.distributed.run``, so it works in a venv, conda or Colab) and returns a
:class:`LaunchResult` with every rank's output. What it adds to a bare ``subprocess.run``:

- it refuses more processes than this machine gives us cores, with the fix in the message (on CPU each rank
  needs its own core: ranks wait for each other at every all-reduce, so oversubscribing crawls);
- it picks a free rendezvous port, and says clearly when a port you chose is taken;
- torchrun and its ranks run in their own process group, and that whole group is killed on timeout, on a
  rank's failure and after the run: no orphaned rank keeps a core busy;
- a failed run raises :class:`LaunchError` naming the failing rank, with the tail of its traceback.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils.cpu import available_cores, thread_env  # one core-count policy (cpu.py)
from course_utils.errors import CourseError
from course_utils.validation import describe, require_bool, require_int, require_positive_int, require_positive_number

_RANK_LINE = re.compile(r"^\[[A-Za-z_]*?(\d+)\]:(.*)$")  # torchrun --tee prefixes each line with [default<rank>]:
_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)
_PORT_TAKEN = ("EADDRINUSE", "address already in use")


class LaunchError(CourseError, RuntimeError):
    """A multi-process run failed or timed out; ``rank`` is the first failing rank (None if unknown)."""

    def __init__(self, message: str, output: str = "", rank: int | None = None, pgid: int | None = None) -> None:
        super().__init__(message)
        self.output, self.rank, self.pgid = output, rank, pgid


class LaunchTimeoutError(LaunchError, TimeoutError):
    """The run did not finish in time; all its processes were killed."""


class TooManyProcessesError(CourseError, ValueError):
    """More processes were asked for than this machine has cores for."""


class PortInUseError(CourseError, OSError):
    """The rendezvous port is taken by another program (or another run)."""


@dataclass
class LaunchResult:
    """A finished run: the command, the port used, the exit code, seconds taken and the combined output."""

    command: list[str]
    nproc: int
    port: int
    returncode: int
    seconds: float
    output: str
    pgid: int | None = None

    def rank_output(self, rank: int) -> str:
        """The lines rank ``rank`` printed (stdout and stderr), without torchrun's ``[default<rank>]:`` prefix."""
        return rank_lines(self.output, rank)


def rank_lines(output: str, rank: int) -> str:
    """Lines of ``output`` that torchrun (``--tee 3``) attributed to local rank ``rank``, prefix removed."""
    rank = require_int("rank", rank, minimum=0)
    lines = []
    for line in output.splitlines():
        match = _RANK_LINE.match(line)
        if match and int(match.group(1)) == rank:
            lines.append(match.group(2))
    return "\n".join(lines)


def port_in_use(port: int, host: str = "") -> bool:
    """True if a TCP server could not listen on ``port`` now (``host=""``: all interfaces, as torchrun does)."""
    port = require_int("port", port, minimum=0, maximum=65535)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is still usable
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A TCP port that is free right now (the OS picks one; another program could still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _check_nproc(nproc: object, oversubscribe: bool) -> int:
    nproc = require_positive_int("nproc", nproc, example="2 (processes)")
    cores = available_cores()
    if nproc > cores and not oversubscribe:
        raise TooManyProcessesError(
            f"nproc={nproc} but this machine gives us {cores} CPU core(s). On CPU every rank needs a core of its "
            f"own (ranks wait for each other at every all-reduce). Use nproc <= {cores}, or pass "
            "oversubscribe=True to run anyway, much slower."
        )
    return nproc


def _check_port(port: object) -> int:
    port = require_int("port", port, minimum=1024, maximum=65535, example="29500 (or None to pick a free one)")
    if port_in_use(port):
        raise PortInUseError(
            f"port {port} is already in use by another program (or a run that is still going), so the rendezvous "
            "server of rank 0 cannot listen on it. Pass port=None to let launch() pick a free port, or stop "
            f"whatever listens on {port} (e.g. `ss -ltnp | grep {port}` shows it)."
        )
    return port


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop torchrun and every process it started: SIGTERM to the group, then SIGKILL whatever is left."""
    if os.name == "posix":
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break  # the group is gone (PermissionError: macOS says so for an exited group)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(proc.pid):
                time.sleep(0.05)
    else:  # pragma: no cover - Windows: kill the process tree
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _run(command: list[str], env: dict[str, str], cwd: Path | None, timeout: float, echo: bool) -> tuple:
    """Run ``command`` in a new process group; return (returncode or None on timeout, output, seconds, pgid)."""
    flags = {"start_new_session": True} if os.name == "posix" else {"creationflags": 0x00000200}
    start = time.monotonic()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, cwd=cwd, text=True, errors="replace", bufsize=1, **flags,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    returncode: int | None = None
    try:
        while returncode is None and time.monotonic() - start < timeout:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if proc.poll() is not None:  # torchrun exited but something it started still holds the pipe
                    returncode = proc.returncode
                continue
            if line is None:  # every holder of the pipe closed it: torchrun and its ranks are exiting
                try:
                    returncode = proc.wait(timeout=max(0.1, timeout - (time.monotonic() - start)))
                except subprocess.TimeoutExpired:
                    break
            else:
                output.append(line)
                if echo:
                    print(line, end="", flush=True)
    finally:  # also on KeyboardInterrupt (the learner pressed stop): never leave ranks running
        _kill_group(proc)
        reader.join(timeout=5)
        while not lines.empty():
            line = lines.get()
            if line is not None:
                output.append(line)
    return returncode, "".join(output), time.monotonic() - start, proc.pid


def launch(
    script: str | Path,
    nproc: int = 2,
    args: Sequence[str | int | float | Path] = (),
    timeout: float = 300.0,
    port: int | None = None,
    threads_per_process: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    echo: bool = False,
    oversubscribe: bool = False,
) -> LaunchResult:
    """Run ``script`` as ``nproc`` data-parallel processes on this machine with torchrun; wait for it.

    ``args`` go to the script (numbers and paths become strings). Each rank gets the usual torchrun
    environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), which
    ``torch.distributed.init_process_group`` and ``accelerate.Accelerator`` read. ``threads_per_process``
    sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` (default: the cores divided among the ranks); ``env`` adds
    variables; ``echo=True`` prints the output live. ``oversubscribe=True`` allows more ranks than cores.
    Raises :class:`TooManyProcessesError`, :class:`PortInUseError`, :class:`LaunchTimeoutError` after
    ``timeout`` seconds, or :class:`LaunchError` when a rank fails; in every
    case no process of the run is left behind.
    """
    oversubscribe, echo = require_bool("oversubscribe", oversubscribe), require_bool("echo", echo)
    nproc = _check_nproc(nproc, oversubscribe)
    timeout = require_positive_number("timeout", timeout, example="300 (seconds)")
    if threads_per_process is not None:
        threads_per_process = require_positive_int("threads_per_process", threads_per_process,
                                                   example="1 (or None: the cores divided among the ranks)")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a list of the script's arguments such as ['--epochs', 2], got {describe(args)}")
    if env is not None and (not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise TypeError(f"env must map names to strings, such as {{'EPOCHS': '2'}}, got {describe(env)}")
    if port is not None:
        port = require_int("port", port, minimum=1024, maximum=65535, example="29500 (or None to pick a free one)")
    if cwd is not None and not Path(cwd).is_dir():
        raise FileNotFoundError(f"cwd {cwd!s} is not a folder: pass an existing folder (or None for this one)")
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"no script at {script.resolve()}: write it first (e.g. with %%writefile)")
    chosen = port is None
    threads = threads_per_process or max(1, available_cores() // nproc)
    run_env = {**os.environ, **thread_env(threads), **(env or {}), "PYTHONUNBUFFERED": "1"}
    for attempt in range(3 if chosen else 1):
        used_port = free_port() if chosen else _check_port(port)
        command = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
            "--master_addr", "127.0.0.1", "--master_port", str(used_port), "--tee", "3",
            str(script), *map(str, args),
        ]  # fmt: skip
        returncode, output, seconds, pgid = _run(command, run_env, Path(cwd) if cwd else None, timeout, echo)
        port_taken = returncode not in (0, None) and any(text in output for text in _PORT_TAKEN)
        if port_taken and chosen and attempt < 2:
            continue  # another program grabbed the free port between our check and torchrun: try another
        break
    if returncode is None:
        raise LaunchTimeoutError(
            f"{script.name} did not finish within {timeout:g} s; all {nproc} ranks and torchrun were killed. "
            "A rank may be waiting at a collective (all-reduce, barrier) for a rank that never gets there. "
            f"Last lines:\n{_tail(output)}",
            output=output, pgid=pgid,
        )  # fmt: skip
    if port_taken:
        raise PortInUseError(
            f"port {used_port} was taken when torchrun tried to listen on it: pass port=None (a free port is "
            f"picked) or stop the program using it. Last lines:\n{_tail(output)}"
        )
    if returncode != 0:
        raise _failure(script.name, nproc, returncode, output, pgid)
    return LaunchResult(command, nproc, used_port, returncode, seconds, output, pgid)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


def _failure(name: str, nproc: int, returncode: int, output: str, pgid: int) -> LaunchError:
    """A LaunchError naming the rank torchrun reports as the root cause, with that rank's last lines."""
    match = _ROOT_CAUSE.search(output)
    if match is None:
        return LaunchError(
            f"torchrun exited with code {returncode} running {name} ({nproc} processes); all processes were "
            f"stopped. Last lines:\n{_tail(output)}",
            output=output, pgid=pgid,
        )  # fmt: skip
    rank, code = int(match.group(1)), int(match.group(2))
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    own = rank_lines(output, rank)
    return LaunchError(
        f"rank {rank} of {nproc} {how} running {name}; torchrun stopped the other ranks and no process of the "
        f"run is left. Rank {rank}'s last lines:\n{_tail(own or output)}",
        output=output, rank=rank, pgid=pgid,
    )  # fmt: skip
