"""course_utils.practice.checks.nb00: each checker accepts a correct answer and rejects plausible wrong ones with
feedback that names the input, the expected and obtained values and a hint."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected

from course_utils.practice.checks.nb00 import (
    check_batches,
    check_count_calls,
    check_epoch_loader,
    check_sliding_windows,
    check_temporarily,
)


# --- Exercise 1 ---------------------------------------------------------------------------------------------
class Windows:
    def __init__(self, data: torch.Tensor, size: int) -> None:
        self.data, self.size = data, size

    def __len__(self) -> int:
        return len(self.data) - self.size

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.data[i : i + self.size], self.data[i + 1 : i + self.size + 1]


class WindowsOffByOne(Windows):
    def __len__(self) -> int:
        return len(self.data) - self.size + 1  # counts a last window that has no full target

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data[i : i + self.size], self.data[i + 1 : i + self.size + 1]


class WindowsScalarTarget(Windows):
    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.data[i : i + self.size], self.data[i + self.size]  # only the next token


class WindowsNoIndexError(Windows):
    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data[i : i + self.size], self.data[i + 1 : i + self.size + 1]  # slicing never raises


def test_sliding_windows_accepts_the_reference() -> None:
    result = check_sliding_windows(Windows, seed=0)
    assert result.passed and result.cases == 20 and "PASSED" in str(result)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (WindowsOffByOne, ["len(ds) ==", "input:", "hint:"]),
        (WindowsScalarTarget, ["ds[0]", "expected:", "got:", "shifted by one"]),
        (WindowsNoIndexError, ["IndexError", "for-loop"]),
    ],
)
def test_sliding_windows_rejects_wrong_answers(cls: type, fragments: list[str]) -> None:
    assert_rejected(check_sliding_windows(cls, seed=1), *fragments)


def test_a_crash_is_feedback_that_names_the_input() -> None:
    class Crashes(Windows):
        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            raise ValueError("oops")

    assert_rejected(check_sliding_windows(Crashes, seed=2), "raised ValueError: oops", "input:", "ds[0]")


def test_fresh_cases_without_a_seed() -> None:
    assert check_sliding_windows(Windows).passed and check_sliding_windows(Windows, trials=3).cases == 3


def test_a_non_callable_is_feedback_and_a_bad_trials_count_an_error() -> None:
    assert_rejected(check_sliding_windows(42), "pass the class without calling it", "got:      int 42")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trials must be an int >= 1"):
        check_sliding_windows(Windows, trials=0)


# --- Exercise 2 ---------------------------------------------------------------------------------------------
def count_calls(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return func(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def count_calls_no_wraps(func):
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return func(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


_shared = {"calls": 0}


def count_calls_global(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _shared["calls"] += 1
        wrapper.calls = _shared["calls"]
        return func(*args, **kwargs)

    return wrapper


def count_calls_drops_kwargs(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return func(*args)

    wrapper.calls = 0
    return wrapper


def test_count_calls_accepts_the_reference() -> None:
    assert check_count_calls(count_calls, seed=0).passed


@pytest.mark.parametrize(
    ("decorator", "fragment"),
    [
        (count_calls_no_wraps, "functools.wraps"),
        (count_calls_global, "not in a global"),
        (count_calls_drops_kwargs, "**kwargs"),
    ],
)
def test_count_calls_rejects_wrong_answers(decorator, fragment: str) -> None:
    assert_rejected(check_count_calls(decorator, seed=3), fragment, "expected:", "got:")


# --- Exercise 3 ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def temporarily(obj, **attrs):
    old = {name: getattr(obj, name) for name in attrs}
    for name, value in attrs.items():
        setattr(obj, name, value)
    try:
        yield obj
    finally:
        for name, value in old.items():
            setattr(obj, name, value)


class TemporarilyClass:
    def __init__(self, obj, **attrs) -> None:
        self.obj, self.attrs = obj, attrs

    def __enter__(self):
        self.old = {name: getattr(self.obj, name) for name in self.attrs}
        for name, value in self.attrs.items():
            setattr(self.obj, name, value)
        return self.obj

    def __exit__(self, *exc) -> None:
        for name, value in self.old.items():
            setattr(self.obj, name, value)


@contextlib.contextmanager
def temporarily_no_finally(obj, **attrs):
    old = {name: getattr(obj, name) for name in attrs}
    for name, value in attrs.items():
        setattr(obj, name, value)
    yield obj
    for name, value in old.items():  # skipped when the block raises
        setattr(obj, name, value)


class TemporarilySwallows(TemporarilyClass):
    def __exit__(self, *exc) -> bool:
        super().__exit__(*exc)
        return True  # hides every error raised in the block


@contextlib.contextmanager
def temporarily_never_restores(obj, **attrs):
    for name, value in attrs.items():
        setattr(obj, name, value)
    yield obj


@pytest.mark.parametrize("manager", [temporarily, TemporarilyClass])
def test_temporarily_accepts_function_and_class_forms(manager) -> None:
    assert check_temporarily(manager, seed=0).passed


@pytest.mark.parametrize(
    ("manager", "fragment"),
    [
        (temporarily_no_finally, "the block raised KeyError"),
        (TemporarilySwallows, "swallowed"),
        (temporarily_never_restores, "finally"),
    ],
)
def test_temporarily_rejects_wrong_answers(manager, fragment: str) -> None:
    assert_rejected(check_temporarily(manager, seed=4), fragment, "input:", "hint:")


# --- Exercise 4 ---------------------------------------------------------------------------------------------
def batches(items: Iterable, batch_size: int, drop_last: bool = False) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch and not drop_last:
        yield batch


def batches_loses_last(items: Iterable, batch_size: int, drop_last: bool = False) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []


def batches_eager(items: Iterable, batch_size: int, drop_last: bool = False) -> list[list]:
    items = list(items)
    stop = len(items) - len(items) % batch_size if drop_last else len(items)
    return [items[i : i + batch_size] for i in range(0, stop, batch_size)]


def test_batches_accepts_the_reference() -> None:
    assert check_batches(batches, seed=0).passed


def test_batches_rejects_a_lost_last_batch() -> None:
    assert_rejected(check_batches(batches_loses_last, seed=5), "drop_last=False", "keep the last short batch")


def test_batches_rejects_an_eager_list() -> None:
    assert_rejected(check_batches(batches_eager, seed=6), "not lazy", "never list(items)")


def test_an_unwritten_exercise_says_so() -> None:
    def unwritten(*args, **kwargs):
        raise NotImplementedError

    for check in (check_sliding_windows, check_count_calls, check_temporarily, check_batches):
        assert_rejected(check(unwritten, trials=2), "not written yet")


# --- Exercise 5 (find the bug): EpochLoader ---------------------------------------------------------------------
class EpochLoader:
    def __init__(self, examples: list, batch_size: int) -> None:
        self.examples, self.batch_size = examples, batch_size

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def __iter__(self) -> Iterator[list]:
        for start in range(0, len(self.examples), self.batch_size):
            yield self.examples[start : start + self.batch_size]


class EpochLoaderReturnsIter(EpochLoader):  # another correct answer: a new iterator over a new list each call
    def __iter__(self) -> Iterator[list]:
        return iter([self.examples[i : i + self.batch_size] for i in range(0, len(self.examples), self.batch_size)])


class EpochLoaderBuggy(EpochLoader):  # the notebook's bug: one generator, made once
    def __init__(self, examples: list, batch_size: int) -> None:
        super().__init__(examples, batch_size)
        self.batches = (examples[i : i + batch_size] for i in range(0, len(examples), batch_size))

    def __iter__(self) -> Iterator[list]:
        return self.batches


class EpochLoaderSharedPosition(EpochLoader):  # a wrong fix: the loader is its own iterator, rewound by iter()
    def __iter__(self) -> EpochLoaderSharedPosition:
        self.position = 0
        return self

    def __next__(self) -> list:
        if self.position >= len(self.examples):
            raise StopIteration
        self.position += self.batch_size
        return self.examples[self.position - self.batch_size : self.position]


class EpochLoaderDropsLast(EpochLoader):
    def __iter__(self) -> Iterator[list]:
        for start in range(0, len(self.examples) - self.batch_size + 1, self.batch_size):
            yield self.examples[start : start + self.batch_size]


@pytest.mark.parametrize("cls", [EpochLoader, EpochLoaderReturnsIter])
def test_epoch_loader_accepts_correct_answers(cls: type) -> None:
    assert_accepted(check_epoch_loader, cls)


@pytest.mark.parametrize(
    ("cls", "fragments"),
    [
        (EpochLoaderBuggy, ["epoch 2", "a generator runs once", "input:"]),
        (EpochLoaderSharedPosition, ["iter(loader), iter(loader)", "own position"]),
        (EpochLoaderDropsLast, ["epoch 1", "examples[i : i + batch_size]"]),
    ],
)
def test_epoch_loader_rejects_wrong_answers(cls: type, fragments: list[str]) -> None:
    assert_rejected(check_epoch_loader(cls, seed=0), *fragments)
