"""course_utils.runner: executes notebooks, reports the failing cell, enforces the timeout, collects metrics."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils import runner


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell("SMOKE = None\nSEED = 0", metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, runner.NotebookResult]:
    """Three tiny notebooks executed once, two at a time: one passes, one fails, one hangs."""
    folder = tmp_path_factory.mktemp("nbs")
    ok = _notebook(
        folder / "ok.ipynb",
        "from course_utils.outcomes import record\nrecord(device='cpu', smoke=SMOKE, answer=SEED + 41)",
    )
    bad = _notebook(folder / "bad.ipynb", "x = 1", "raise ValueError('the data is wrong')")
    slow = _notebook(folder / "slow.ipynb", "import time\ntime.sleep(60)")
    out = folder / "out"
    found = {nb.stem: runner.run_notebook(nb, out, smoke=True, seed=1, timeout=20) for nb in (ok, bad)}
    found["slow"] = runner.run_notebook(slow, out, smoke=True, timeout=8)
    return found


def test_ok_notebook_metrics_and_parameters(results: dict[str, runner.NotebookResult]) -> None:
    ok = results["ok"]
    assert ok.status == "ok", ok.output
    assert ok.device == "cpu"
    assert ok.metrics == {"smoke": True, "answer": 42}  # SMOKE and SEED were injected


def test_failing_notebook_names_the_cell(results: dict[str, runner.NotebookResult]) -> None:
    bad = results["bad"]
    assert bad.status == "failed"
    assert "cell 3 of 3" in bad.error and "ValueError: the data is wrong" in bad.error
    assert "raise ValueError" in bad.error  # the cell's source


def test_hanging_notebook_is_killed_at_the_timeout(results: dict[str, runner.NotebookResult]) -> None:
    slow = results["slow"]
    assert slow.status == "timeout" and slow.seconds < 20
    assert "8 s" in slow.error


def test_summary_table(results: dict[str, runner.NotebookResult]) -> None:
    table = runner.summary_table(list(results.values()))
    assert "| ok.ipynb | ok |" in table and "answer=42" in table and "1/3 ok" in table


def test_cli_rejects_missing_notebook(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        runner.main([str(tmp_path / "nope.ipynb")])


def test_run_all_rejects_bad_jobs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs"):
        runner.run_all([], tmp_path, smoke=True, jobs=0)


def test_bench_compares_with_the_previous_run(tmp_path: Path) -> None:
    from course_utils import bench

    first = [runner.NotebookResult("a.ipynb", "ok", 100.0, "cpu", {"accuracy": 0.9, "smoke": False})]
    bench.write(first, tmp_path)
    second = [runner.NotebookResult("a.ipynb", "ok", 50.0, "cpu", {"accuracy": 0.95, "note": "x"})]
    table = bench.write(second, tmp_path)
    assert "| a.ipynb | ok | 50 (100) (-50%) | accuracy=0.95 (0.9) |" in table
    assert (tmp_path / "bench.md").read_text().strip() == table
    assert bench.load(tmp_path / bench.LATEST)["a.ipynb"]["seconds"] == 50.0
    assert len(list((tmp_path / "history").iterdir())) >= 1


def test_eta_uses_last_times_and_the_mean_for_new_notebooks() -> None:
    from course_utils import bench

    previous = {"a": {"seconds": 10.0}, "b": {"seconds": 30.0}}
    assert bench.eta(previous, ["b", "new"]) == 30.0 + 20.0
    assert bench.eta({}, ["a"]) is None


@pytest.mark.parametrize("env_smoke", ["1", "0"])
def test_without_smoke_the_notebook_follows_course_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          env_smoke: str) -> None:
    """``--smoke`` not given: the runner injects SMOKE=None and keeps COURSE_SMOKE, so the notebook decides."""
    monkeypatch.setenv("COURSE_SMOKE", env_smoke)
    nb = _notebook(
        tmp_path / "env.ipynb",
        "from course_utils.environment import smoke_mode\nfrom course_utils.outcomes import record\n"
        "record(device='cpu', injected=SMOKE is None, smoke=smoke_mode(SMOKE))",
    )
    result = runner.run_notebook(nb, tmp_path / "out", smoke=None, timeout=120)
    assert result.status == "ok", result.output
    assert result.metrics == {"injected": True, "smoke": env_smoke == "1"}


def test_fast_papermill_skips_the_slow_import_and_still_validates() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from course_utils.fast_papermill import block_slow_imports; block_slow_imports(); "
        "import nbformat; nb = nbformat.v4.new_notebook(); nbformat.validate(nb); "
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code', 'source': 1}); "
        "print(nbformat.validator.isvalid(bad), sys.modules['rfc3987_syntax'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "None"]  # an invalid notebook is still caught; the grammar never loaded
    usage = subprocess.run([sys.executable, "-m", "course_utils.fast_papermill", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert "Usage: papermill" in usage and "--parameters" in usage


def test_bench_reports_the_machine_speed_beside_the_previous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils import bench

    speed = bench.machine_speed(seconds=0.2)
    assert speed is not None and speed > 0.5  # GFLOP/s: any machine that runs torch does more
    monkeypatch.setattr(bench, "_SPEED_PROBE", "raise SystemExit(3)")
    assert bench.machine_speed(seconds=0.2) is None  # a probe that fails gives no number, never an exception
    results = [runner.NotebookResult("a.ipynb", "ok", 10.0, "cpu", {})]
    first = bench.write(results, tmp_path, speed=(80.0, 78.0))
    assert first.startswith("Machine speed (GFLOP/s of a fixed float32 matmul, at the start / end): now 80 / 78.")
    second = bench.write(results, tmp_path, speed=(100.0, None))
    assert "now 100 / ?; previous bench 80 / 78." in second
    assert "| a.ipynb | ok | 10 (10) |" in second
    assert "Machine speed" not in bench.write(results, tmp_path)  # without a measurement: the table alone
