"""One policy for CPU threads, used by the runner, the tests, the Makefile and the notebooks that teach it.

PyTorch starts one compute thread per core. When several programs share the cores (two notebooks executed at
once, or DataLoader worker processes beside the training loop) their threads wait for each other and a step can
become many times slower. The rule: split the cores between the jobs running at once, and leave one core to
each DataLoader worker; never fewer than one thread.
"""

from __future__ import annotations

import os

from course_utils.validation import require_int, require_positive_int


def available_cores() -> int:
    """CPU cores this process may run on: the affinity mask where the OS has one (a container or ``taskset`` may
    allow fewer cores than the machine has), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_for(jobs: int = 1, workers: int = 0) -> int:
    """Compute threads for one of ``jobs`` processes running at once, each with ``workers`` loader workers."""
    jobs = require_positive_int("jobs", jobs, example="2")
    workers = require_int("workers", workers, minimum=0, example="2 (DataLoader workers, or 0)")
    return max(1, available_cores() // jobs - workers)


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that cap a child process's math libraries at ``threads`` threads."""
    threads = require_positive_int("threads", threads, example="2")
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


if __name__ == "__main__":  # `python -m course_utils.cpu JOBS` prints the thread count (used by the Makefile)
    import sys

    print(threads_for(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
