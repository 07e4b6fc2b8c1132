"""Checkers for the exercises of notebook 00 (Python for PyTorch).

Each ``check_*`` function takes the learner's code (a class, a decorator, a context manager, a generator
function), runs it on fresh random cases next to a reference, and returns a ``CheckResult``. A failure
names the input, the expected and the obtained value and gives a hint, so the learner can fix the code
without reading this file. Checkers never raise for a wrong answer (the notebook goes on and its outcome
check counts the passes). Something that is not callable gets feedback too; only a bad ``trials`` raises
``ValueError``. The framework (verdicts, feedback, the time limit) is ``course_utils.practice.grading``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import torch

from course_utils.practice.checks._common import random_source
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check
from course_utils.validation import require_positive_int

__all__ = ["CheckResult", "check_batches", "check_count_calls", "check_epoch_loader", "check_sliding_windows",
           "check_temporarily"]


_fail = fail
_run = run_check


def _require_settings(trials: int, seed: int | None) -> random.Random:
    """The random source of one checker call, after checking its settings (a bad one is the author's error)."""
    require_positive_int("trials", trials, example="20")
    return random_source(seed)


# --- Exercise 1: a map-style Dataset -------------------------------------------------------------------------
@exercise("00", "sliding_windows")
def check_sliding_windows(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a ``SlidingWindows(data, size)`` dataset class on random 1-D token tensors.

    Expected behaviour (next-token prediction, as in notebooks 10a and 11): ``len(ds) == len(data) - size``;
    ``ds[i] == (data[i : i + size], data[i + 1 : i + size + 1])``; ``ds[len(ds)]`` raises ``IndexError``.
    """
    rng = _require_settings(trials, seed)

    def body(current: dict[str, str]) -> None:
        require_callable(cls, "class", "check_sliding_windows(SlidingWindows)")
        for _ in range(trials):
            n = rng.randint(3, 20)
            size = rng.randint(1, min(6, n - 1))
            data = torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(rng.randrange(2**31)))
            case = current["case"] = f"SlidingWindows(data={data.tolist()}, size={size})"
            ds = cls(data, size)
            if len(ds) != n - size:
                raise _fail(case, f"len(ds) == {n - size}", f"len(ds) == {len(ds)}",
                            "the last window needs a target after it: how many starts i have i + size < len(data)?")
            for i in sorted({0, rng.randrange(n - size), n - size - 1}):
                want = (data[i : i + size], data[i + 1 : i + size + 1])
                current["case"] = f"{case}; ds[{i}]"
                got = ds[i]
                ok = (isinstance(got, tuple) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)
                      and all(torch.equal(a, b) for a, b in zip(got, want)))
                if not ok:
                    raise _fail(f"{case}; ds[{i}]", tuple(t.tolist() for t in want), _show(got),
                                "return a tuple (inputs, targets) of tensors; targets are inputs shifted by one")
            try:
                extra = ds[n - size]
            except IndexError:
                continue
            raise _fail(f"{case}; ds[{n - size}]", "IndexError", _show(extra),
                        "raise IndexError for i >= len(self): a for-loop over the dataset stops only then")

    return _run("SlidingWindows dataset", trials, body)


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor({value.tolist()})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value)


# --- Exercise 2: a decorator ---------------------------------------------------------------------------------
@exercise("00", "count_calls")
def check_count_calls(decorator: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a ``count_calls`` decorator: the wrapped function returns the same values for any positional
    and keyword arguments, exposes the number of calls so far as ``.calls`` (one counter per decorated
    function), and keeps the function's ``__name__`` and ``__doc__`` (``functools.wraps``)."""
    rng = _require_settings(trials, seed)

    def body(current: dict[str, str]) -> None:
        require_callable(decorator, "decorator", "check_count_calls(count_calls)")
        def scaled_sum(*values: float, scale: float = 1.0) -> float:
            """Sum the values, times scale."""
            return scale * sum(values)

        def square(x: float) -> float:
            return x * x

        counted, other = decorator(scaled_sum), decorator(square)
        if getattr(counted, "__name__", None) != "scaled_sum" or counted.__doc__ != scaled_sum.__doc__:
            raise _fail("count_calls(scaled_sum)", "__name__ 'scaled_sum' and its docstring",
                        f"__name__ {getattr(counted, '__name__', None)!r}",
                        "decorate your wrapper with @functools.wraps(func)")
        other(3.0)
        for call in range(1, trials + 1):
            values = [rng.randint(-9, 9) for _ in range(rng.randint(0, 4))]
            kwargs = {"scale": rng.choice([2.0, -1.0, 0.5])} if rng.random() < 0.5 else {}
            scale = f", scale={kwargs['scale']}" if kwargs else ""
            case = current["case"] = f"counted({', '.join(map(str, values))}{scale})"
            got = counted(*values, **kwargs)
            if got != scaled_sum(*values, **kwargs):
                raise _fail(case, scaled_sum(*values, **kwargs), got,
                            "the wrapper must accept *args, **kwargs, call func(*args, **kwargs) and return its result")
            if getattr(counted, "calls", None) != call:
                raise _fail(f"{call} call(s) of counted, 1 of another decorated function", f".calls == {call}",
                            f".calls == {getattr(counted, 'calls', None)!r}",
                            "store the count on the wrapper (wrapper.calls = 0, then wrapper.calls += 1), "
                            "not in a global shared by every decorated function")

    return _run("count_calls decorator", trials, body)


# --- Exercise 3: a context manager ---------------------------------------------------------------------------
@exercise("00", "temporarily")
def check_temporarily(manager: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``temporarily(obj, **attrs)``: inside the ``with`` block the attributes have the new values and
    ``as`` gives ``obj``; afterwards the old values are back, also when the block raised (the exception
    must propagate, not be swallowed). ``torch.no_grad`` restores the grad mode the same way."""
    rng = _require_settings(trials, seed)

    def body(current: dict[str, str]) -> None:
        require_callable(manager, "context manager", "check_temporarily(temporarily)")
        for _ in range(trials):
            old = {name: rng.randint(0, 99) for name in rng.sample(["lr", "training", "scale", "mode", "p"], 3)}
            new = {name: rng.randint(100, 199) for name in rng.sample(sorted(old), rng.randint(1, 3))}
            obj = SimpleNamespace(**old)
            settings = ", ".join(f"{k}={v}" for k, v in new.items())
            case = current["case"] = f"obj={obj}; with temporarily(obj, {settings})"
            raise_inside = rng.random() < 0.5
            try:
                with manager(obj, **new) as given:
                    inside = {k: getattr(obj, k) for k in old}
                    if given is not obj:
                        raise _fail(f"{case} as given", "given is obj", f"given = {given!r}",
                                    "yield obj (or return it from __enter__)")
                    if raise_inside:
                        raise KeyError("raised inside the with block")
            except KeyError:
                if not raise_inside:
                    raise
            else:
                if raise_inside:
                    raise _fail(f"{case}: the block raises KeyError", "the KeyError propagates", "it was swallowed",
                                "do not catch the exception (or return False from __exit__)")
            if inside != {**old, **new}:
                raise _fail(f"{case}: values inside the block", {**old, **new}, inside,
                            "set each attribute with setattr(obj, name, value)")
            after = vars(obj)
            if after != old:
                when = " (the block raised KeyError)" if raise_inside else ""
                raise _fail(f"{case}: values after the block{when}", old, after,
                            "save the old values before the yield and restore them in a finally: block")

    return _run("temporarily context manager", trials, body)


# --- Exercise 4: a generator ---------------------------------------------------------------------------------
def _reference_batches(items: Iterable, batch_size: int, drop_last: bool = False) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch and not drop_last:
        yield batch


def _stream(n: int, limit: int) -> Iterator[int]:
    """Yield 0..n-1 but fail once more than ``limit`` items are pulled: catches code that reads it all."""
    for i in range(n):
        if i >= limit:
            raise RuntimeError(f"read item {i} of the stream before it was needed (the generator is not lazy)")
        yield i


@exercise("00", "batches")
def check_batches(batches: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check a generator function ``batches(items, batch_size, drop_last=False)`` that groups any iterable
    into lists of ``batch_size`` items; the last, shorter list is kept unless ``drop_last``. It must be lazy:
    asking for the first batch may read only the first ``batch_size`` items (streams, ``IterableDataset``)."""
    rng = _require_settings(trials, seed)

    def body(current: dict[str, str]) -> None:
        require_callable(batches, "generator function", "check_batches(batches)")
        for _ in range(trials):
            items = [rng.randint(0, 99) for _ in range(rng.randint(0, 23))]
            size, drop_last = rng.randint(1, 6), rng.random() < 0.5
            case = current["case"] = f"batches({items}, batch_size={size}, drop_last={drop_last})"
            want = list(_reference_batches(items, size, drop_last))
            got = [list(b) for b in batches(iter(items), size, drop_last=drop_last)]
            if got != want:
                tail = "keep the last short batch unless drop_last" if len(items) % size else "compare with batch_size"
                raise _fail(case, want, got, f"collect items in a list, yield it when full; after the loop {tail}")
        size = rng.randint(2, 6)
        case = f"next(batches(a stream of 10**6 ints, batch_size={size}))"
        try:
            got = next(iter(batches(_stream(10**6, limit=size), size)))
        except RuntimeError as error:
            raise _fail(case, list(range(size)), f"RuntimeError: {error}",
                        "loop over items and yield each batch as soon as it is full; never list(items)") from None
        if list(got) != list(range(size)):
            raise _fail(case, list(range(size)), got, "yield each batch as soon as it is full")

    return _run("batches generator", trials, body)



# --- Exercise 5 (find the bug): a loader that can be looped over again and again --------------------------------
@exercise("00", "epoch_loader")
def check_epoch_loader(cls: type, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check an ``EpochLoader(examples, batch_size)`` class: ``len()`` is the number of batches, and every
    ``for batch in loader`` (every epoch) yields all the batches, lists of ``batch_size`` examples in order (the
    last one shorter). Two loops over the same loader (two ``iter()`` calls) must not share a position."""
    rng = _require_settings(trials, seed)

    def body(current: dict[str, str]) -> None:
        require_callable(cls, "class", "check_epoch_loader(EpochLoader)")
        for _ in range(trials):
            examples = [rng.randint(0, 99) for _ in range(rng.randint(1, 17))]
            size = rng.randint(1, 5)
            want = [examples[i : i + size] for i in range(0, len(examples), size)]
            case = current["case"] = f"loader = EpochLoader({examples}, batch_size={size})"
            loader = cls(examples, size)
            if len(loader) != len(want):
                raise _fail(f"{case}; len(loader)", len(want), len(loader),
                            "len() is the number of batches: the last, shorter one counts too")
            for epoch in (1, 2, 3):
                current["case"] = f"{case}; epoch {epoch}: [list(b) for b in loader]"
                got = [list(b) for b in loader]
                if got == want:
                    continue
                if epoch > 1 and not got:
                    raise _fail(current["case"], want, got,
                                "epoch 1 used up the iterator: a generator runs once. Make __iter__ start a new "
                                "one on every call (write __iter__ itself as a generator function, with yield)")
                raise _fail(current["case"], want, got, "yield examples[i : i + batch_size] for i = 0, batch_size, ...")
            current["case"] = f"{case}; a, b = iter(loader), iter(loader); next(a), next(a), next(b)"
            first, second = iter(loader), iter(loader)
            got_first = [list(next(first)) for _ in range(min(2, len(want)))]
            got_second = list(next(second))
            if got_first != want[:2] or got_second != want[0]:
                raise _fail(current["case"], f"a: {want[:2]}, b starts again at {want[0]}",
                            f"a: {got_first}, b: {got_second}",
                            "each iter(loader) must return a new iterator with its own position; "
                            "returning self (one shared position) breaks nested loops over the same loader")

    return _run("EpochLoader", trials, body)
