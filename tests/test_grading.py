"""course_utils.practice.grading: verdicts, feedback, the time limit, the registry and predict-then-reveal."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import torch

from course_utils.practice import grading, timelimit
from course_utils.practice.grading import CheckResult, check, exercises_of, fail, reveal, run_check, tensor_problem


def square_body(candidate):
    def body(current: dict[str, str]) -> None:
        grading.require_callable(candidate, "function", "check(square)")
        for x in (0, 3, -2):
            current["case"] = f"square({x})"
            got = candidate(x)
            if got != x * x:
                raise fail(f"square({x})", x * x, got, "multiply x by itself")

    return body


def test_a_correct_candidate_passes_with_a_short_confirmation() -> None:
    result = run_check("square", 3, square_body(lambda x: x * x))
    assert result and result.passed and result.cases == 3
    assert str(result) == "[PASSED] square: all 3 random cases agree with the reference"


def test_a_wrong_answer_names_input_expected_got_and_hint() -> None:
    result = run_check("square", 3, square_body(lambda x: 2 * x))
    text = str(result)
    assert not result and text.startswith("[NOT YET] square: a case failed:")
    for part in ("input:    square(3)", "expected: 9", "got:      6", "hint:     multiply x by itself"):
        assert part in text, text


def test_returning_none_gets_a_hint_about_return() -> None:
    assert "is a `return` missing?" in str(run_check("square", 3, square_body(lambda x: None)))


def test_the_stub_is_reported_as_not_written_yet() -> None:
    def stub(x):
        raise NotImplementedError("write your solution here")

    result = run_check("square", 3, square_body(stub))
    assert not result and "not written yet" in result.message


def test_an_exception_in_the_learners_code_is_feedback_with_the_input_and_line() -> None:
    def crashes(x):
        return 1 / x

    result = run_check("square", 3, square_body(crashes))
    assert not result
    assert "your code raised ZeroDivisionError" in result.message and "input:    square(0)" in result.message
    assert "where:    in crashes" in result.message and "return 1 / x" in result.message


def test_a_library_not_implemented_error_is_not_mistaken_for_the_stub() -> None:
    result = run_check("square", 3, square_body(lambda x: torch.nn.Module()(x)))
    assert not result and "not written yet" not in result.message and "NotImplementedError" in result.message


@pytest.mark.parametrize("candidate", [42, "square", None])
def test_a_non_callable_is_feedback_not_a_crash(candidate: object) -> None:
    result = run_check("square", 3, square_body(candidate))
    assert not result and "pass the function without calling it" in result.message


def endless(x):
    while True:
        try:
            x += 1
        except Exception:  # a learner's blanket except must not swallow the time limit
            x = 0


def test_an_endless_loop_hits_the_time_limit_and_the_outer_timer_survives() -> None:
    before = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's own alarm (0 when not in use)
    start = time.monotonic()
    result = run_check("square", 3, square_body(endless), time_limit=0.3)
    assert time.monotonic() - start < 5
    assert not result and "took longer than 0.3 s" in result.message and "time limit of 0.3 s" in result.message
    assert "endless loop" in result.message and "input:    square(0)" in result.message
    assert "background" not in result.message  # stopped, not left running
    after = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (after > 0) == (before > 0) and after <= before + 1e-6


def swallows_everything(x):
    while True:
        try:
            x += 1
        except:  # noqa: E722 - the learner's bare except: it catches the time limit's exception too
            x = 0


def catches_around_a_loop(x, stop: threading.Event):
    while not stop.is_set():  # the test's way out; a learner's code has none
        try:
            while not stop.is_set():
                pass
        except BaseException:
            pass


@pytest.mark.parametrize("where", ["main thread", "other thread", "no setitimer (Windows)"])
def test_a_bare_except_loop_cannot_swallow_the_time_limit(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "no setitimer (Windows)":
        monkeypatch.delattr(signal, "setitimer")
    box: dict[str, CheckResult] = {}

    def run() -> None:
        box["r"] = run_check("square", 3, square_body(swallows_everything), time_limit=0.3)

    start = time.monotonic()
    if where == "other thread":
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(10)
    else:
        run()
    assert time.monotonic() - start < 4
    assert not box["r"] and "took longer than 0.3 s" in box["r"].message and "background" not in box["r"].message
    assert not [t for t in threading.enumerate() if t.name == "course-check"]  # the learner's loop was stopped


def test_code_that_catches_every_stop_request_is_reported_and_the_notebook_goes_on() -> None:
    stop = threading.Event()
    start = time.monotonic()
    try:
        result = run_check("square", 3, lambda current: catches_around_a_loop(0, stop), time_limit=0.3)
    finally:
        stop.set()  # end the loop left in the background (a learner would restart the kernel)
    assert time.monotonic() - start < 0.3 + timelimit.STOP_GRACE + 2
    assert not result and "took longer than 0.3 s" in result.message and "still running in the background" in (
        result.message)


def test_the_thread_passes_results_and_errors_through() -> None:
    assert run_check("square", 3, square_body(lambda x: x * x))
    assert "raised ZeroDivisionError" in run_check("square", 3, square_body(lambda x: 1 / x)).message
    with pytest.raises(KeyError, match="raised inside"):
        timelimit.call_with_time_limit(lambda: {}["raised inside"], 5)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), "10", None])
def test_a_time_limit_that_is_no_limit_is_refused(seconds: object) -> None:
    with pytest.raises((TypeError, ValueError), match="seconds must be"):
        timelimit.call_with_time_limit(lambda: None, seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(("trials", "limit"), [(0, 1.0), (2.5, 1.0), (True, 1.0), (3, 0), (3, "10")])
def test_bad_settings_from_the_notebook_author_raise(trials: object, limit: object) -> None:
    with pytest.raises((TypeError, ValueError), match="trials|time_limit"):
        run_check("square", trials, square_body(lambda x: x * x), time_limit=limit)  # type: ignore[arg-type]


def test_a_checker_that_cannot_use_a_result_says_so_instead_of_blaming_the_learner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)  # course_utils/ and tests/: this body is "the checker"
    monkeypatch.setattr(grading, "_PACKAGE_DIR", root)

    def body(current: dict[str, str]) -> None:
        current["case"] = "pair()"
        got = (torch.zeros(2), torch.ones(2))  # what the learner's code returned
        if tuple(got) != (0, 1):  # a careless comparison in a checker: raises on tensors
            raise fail("pair()", (0, 1), got, "")

    result = run_check("pair", 1, body)
    assert not result and "the checker could not handle what your code gave it" in result.message
    assert "your code raised" not in result.message and "input:    pair()" in result.message


def test_tensor_problem_describes_each_kind_of_mismatch() -> None:
    want = torch.arange(6.0).reshape(2, 3)
    assert tensor_problem(want.clone(), want) is None
    assert "a tensor is expected, got list" in tensor_problem(want.tolist(), want)
    assert "your code returned shape (3, 2) instead of (2, 3)" in tensor_problem(want.T, want)
    assert "a tensor is expected, got list of length 2" in tensor_problem([1, 2], want)
    assert "complex" in tensor_problem(torch.zeros(2, 3, dtype=torch.complex64), want)
    assert "cannot compare" in tensor_problem(want.to_sparse(), want)
    wrong = want.clone()
    wrong[1, 2] = 0
    assert "first at index (1, 2): 0 instead of 5" in tensor_problem(wrong, want)
    assert "differs at index (1,): 5 instead of 2" in tensor_problem(torch.tensor([1, 5]), torch.tensor([1, 2]))
    assert "dtype" in tensor_problem(want.double(), want, dtype=True)


def test_show_keeps_feedback_short_and_informative() -> None:
    assert grading.show(torch.ones(2, dtype=torch.int64)) == "tensor([1, 1], shape=(2,), dtype=int64)"
    assert len(grading.show(list(range(10_000)))) < 400
    assert grading.show(torch.zeros(10**6)).endswith("shape=(1000000,), dtype=float32)")  # no million-item list


def test_the_registry_finds_every_notebooks_checkers() -> None:
    names = exercises_of("01")
    assert len(names) >= 3 and all(n.startswith("01.") for n in names)
    result = check(names[0], 42)
    assert isinstance(result, CheckResult) and not result
    with pytest.raises(KeyError, match="unknown exercise"):
        check("01.no_such_exercise", len)
    with pytest.raises(KeyError, match="no checkers for notebook"):
        exercises_of("99")
    with pytest.raises(ValueError, match="<notebook>.<exercise>"):
        check("broadcast_shape", len)


@pytest.mark.parametrize(
    ("prediction", "answer", "verdict"),
    [
        (None, 3.0, None),
        (3, torch.tensor(3.0), True),
        (0.1 + 0.2, 0.3, True),
        (1.4167, 4.25 / 3, True),  # a typed, rounded prediction is right
        (0.0095, 0.009, False),  # ...but a relative tolerance: a small wrong number is not
        ((1, 4), (1, 4), True),
        ([1, 4], torch.Size([1, 4]), True),
        ((4, 1), (1, 4), False),
        ("  Yes ", "yes", True),
        ({"b", "a"}, {"a", "b"}, True),
        (True, 1, False),
        ("seven", 7, False),
        (object(), torch.zeros(2), False),
    ],
)
def test_reveal_compares_and_never_raises(prediction, answer, verdict, capsys: pytest.CaptureFixture) -> None:
    assert reveal(prediction, answer, "x", explain="because") is verdict
    text = capsys.readouterr().out
    expected = {None: "No prediction written", True: "Right", False: "Not quite"}[verdict]
    assert text.startswith(expected) and "Why: because" in text


def test_summarize_counts_the_passes(capsys: pytest.CaptureFixture) -> None:
    results = {"a": CheckResult("a", True, 1, "ok"), "b": CheckResult("b", False, 1, "no\n  input: x")}
    assert grading.summarize(results) == 1
    assert "1 of 2 exercises passed" in capsys.readouterr().out



def test_every_course_utils_package_is_installed_by_pyproject() -> None:
    """A non-editable install (Colab, `make fresh`) ships only the packages pyproject's find rule selects: every
    folder of course_utils with an __init__.py (practice.checks, practice.solutions ...) must be among them, or
    a notebook's `from course_utils.practice.checks.nb01 import ...` fails there."""
    import tomllib
    from pathlib import Path

    from setuptools import find_packages

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "packages" in config, "pyproject.toml needs [tool.setuptools.packages] (a list or a find rule)"
    rule = config["packages"]
    shipped = set(rule) if isinstance(rule, list) else set(find_packages(root, include=rule["find"]["include"]
                                                                         if "find" in rule else rule["include"]))
    packages = {".".join(p.parent.relative_to(root).parts) for p in (root / "course_utils").rglob("__init__.py")}
    assert {"course_utils.practice", "course_utils.practice.checks", "course_utils.practice.solutions"} <= packages
    assert packages <= shipped, f"pyproject.toml does not ship {sorted(packages - shipped)}"
