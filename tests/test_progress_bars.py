"""Headless runs save finished progress bars (course_utils.progress_bars)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import course_utils
from tqdm.auto import tqdm, trange
for _ in tqdm(range(50), desc="kept"):
    pass
for _ in tqdm(range(50), desc="cleared", leave=False):
    pass
bar = tqdm(total=10, desc="stopped early", leave=False)
bar.update(3)
bar.close()
for _ in trange(3, desc="trange"):
    pass
print("bar class:", tqdm.__name__)
"""


def run(headless: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COURSE_HEADLESS"}
    if headless:
        env["COURSE_HEADLESS"] = "1"
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)


def test_a_headless_run_prints_one_finished_line_per_kept_bar_and_nothing_else() -> None:
    proc = run(headless=True)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert [line.split(":")[0] for line in lines] == ["kept", "trange", "bar class"]
    assert "100%" in lines[0] and "50/50" in lines[0] and "3/3" in lines[1] and lines[2] == "bar class: FinishedBars"
    assert "\r" not in proc.stdout and proc.stderr == ""


def test_without_the_variable_the_bars_are_tqdms_own() -> None:
    proc = run(headless=False)
    assert proc.returncode == 0 and "bar class: tqdm" in proc.stdout
    assert "kept" in proc.stderr  # tqdm draws on stderr as usual
