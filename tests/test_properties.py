"""Properties of the split and batching helpers, for any valid input (Hypothesis draws the inputs).

- ``splits.split_indices`` (every dataset's split) and ``surnames.stratified_split``: for any valid fractions and
  seeds the parts are disjoint, cover the data, have the promised sizes and are the same on every call;
- ``validation.require_fractions_leave_room``: held-out fractions are accepted exactly when they leave room;
- ``batching.TokenBudgetBatchSampler``: for any lengths and token budget every example is batched exactly once,
  every batch of two or more keeps to the budget, and every epoch visits the same batches;
- ``finetune.LengthGroupedBatchSampler``: every epoch visits every row exactly once.

Example counts stay modest (``max_examples`` 40-100, no deadline), so the file runs in a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from course_utils.splits import split_indices
from course_utils.surnames import stratified_split
from course_utils.validation import require_fractions_leave_room

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FRACTION = st.floats(min_value=0.01, max_value=0.45, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=0, max_value=2000), seed=SEEDS, fractions=st.lists(FRACTION, min_size=1, max_size=3))
def test_split_indices_parts_are_disjoint_cover_everything_and_repeat(
    n: int, seed: int, fractions: list[float]
) -> None:
    sizes = [round(n * f) for f in fractions]
    if sum(fractions) >= 1 or any(s == 0 for s in sizes) or sum(sizes) >= n:
        event("refused: no room for every part")
        with pytest.raises(ValueError, match="leaves nothing|a part would be empty"):
            split_indices(n, seed, *fractions)
        return
    event("split")
    parts = split_indices(n, seed, *fractions)
    assert len(parts) == len(fractions) + 1
    joined = np.concatenate(parts)
    assert len(joined) == n and set(joined.tolist()) == set(range(n))  # disjoint (no repeats) and covering
    assert [len(p) for p in parts[1:]] == sizes and len(parts[0]) == n - sum(sizes) >= 1
    again = split_indices(n, seed, *fractions)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


@settings(max_examples=60, deadline=None)
@given(fractions=st.lists(st.floats(min_value=1e-6, max_value=0.999, allow_nan=False), min_size=1, max_size=4))
def test_held_out_fractions_are_accepted_exactly_when_they_leave_room(fractions: list[float]) -> None:
    named = {f"f{i}": f for i, f in enumerate(fractions)}
    if sum(fractions) < 1:
        assert require_fractions_leave_room(named) == fractions
    else:
        with pytest.raises(ValueError, match="leaves nothing for training"):
            require_fractions_leave_room(named)


@st.composite
def labelled_names(draw: st.DrawFn) -> list[tuple[str, str]]:
    """(name, language) pairs: 1-4 languages of 3-60 distinct names each."""
    counts = draw(st.lists(st.integers(min_value=3, max_value=60), min_size=1, max_size=4))
    return [(f"{language}-{i}", f"L{language}") for language, count in enumerate(counts) for i in range(count)]


@settings(max_examples=60, deadline=None)
@given(pairs=labelled_names(), seed=SEEDS, val=st.floats(0.01, 0.45), test=st.floats(0.01, 0.45))
def test_stratified_split_is_disjoint_covering_per_language_and_repeats(
    pairs: list[tuple[str, str]], seed: int, val: float, test: float
) -> None:
    languages = sorted({language for _, language in pairs})
    groups = {language: sum(1 for _, lang in pairs if lang == language) for language in languages}
    assume(all(n - max(1, round(n * val)) - max(1, round(n * test)) >= 1 for n in groups.values()))
    train, validation, held_out = stratified_split(pairs, languages, val, test, seed)
    everything = train + validation + held_out
    assert len(everything) == len(pairs) and set(everything) == set(pairs)  # disjoint and covering
    for language, n in groups.items():  # every language in every split, in the promised proportions
        assert sum(lang == language for _, lang in validation) == max(1, round(n * val))
        assert sum(lang == language for _, lang in held_out) == max(1, round(n * test))
        assert sum(lang == language for _, lang in train) >= 1
    assert stratified_split(pairs, languages, val, test, seed) == (train, validation, held_out)


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=300),
    max_tokens=st.integers(min_value=1, max_value=4000),
    seed=SEEDS,
    epoch=st.integers(min_value=0, max_value=50),
)
def test_token_budget_batches_every_example_exactly_once(
    lengths: list[int], max_tokens: int, seed: int, epoch: int
) -> None:
    from course_utils.batching import TokenBudgetBatchSampler

    sampler = TokenBudgetBatchSampler(lengths, max_tokens, seed=seed)
    batched = sorted(i for batch in sampler.batches for i in batch)
    assert batched == list(range(len(lengths)))  # each example once: none lost, none repeated
    for batch in sampler.batches:
        assert batch and (len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= max_tokens)
    sampler.set_epoch(epoch)
    visited = list(sampler)
    assert len(visited) == len(sampler) and sorted(map(tuple, visited)) == sorted(map(tuple, sampler.batches))
    assert list(sampler) == visited  # the same epoch, the same order
    assert TokenBudgetBatchSampler(lengths, max_tokens, seed=seed).batches == sampler.batches


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=400),
    batch_size=st.integers(min_value=1, max_value=40),
    group_size=st.integers(min_value=1, max_value=8),
    seed=SEEDS,
)
def test_length_grouped_batches_visit_every_row_once_per_epoch(
    lengths: list[int], batch_size: int, group_size: int, seed: int
) -> None:
    from course_utils.finetune import LengthGroupedBatchSampler

    sampler = LengthGroupedBatchSampler(lengths, batch_size, torch.Generator().manual_seed(seed), group_size)
    for _ in range(2):  # two epochs, each a new order
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert all(1 <= len(batch) <= batch_size for batch in batches)
