"""Notebook 13's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import copy
import functools
import math

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch.utils.data.distributed import DistributedSampler

from course_utils.practice import grading
from course_utils.practice.checks import nb13
from course_utils.practice.checks.nb13 import (
    check_clipped_probabilities_no_break,
    check_data_parallel_gradients,
    check_shard_indices,
    check_unscale_gradients,
)


# --- unscale_gradients ----------------------------------------------------------------------------------------
def unscale_gradients(scaled_grads, scale):
    grads = [g.float() / scale for g in scaled_grads]
    return grads, not all(bool(torch.isfinite(g).all()) for g in scaled_grads)


def unscale_by_inverse(scaled_grads, scale):  # GradScaler multiplies by the inverse scale
    inverse = torch.tensor(1.0 / scale)
    found = torch.stack([(torch.isinf(g) | torch.isnan(g)).any() for g in scaled_grads]).any()
    return [g.to(torch.float32) * inverse for g in scaled_grads], found


@pytest.mark.parametrize("fn", [unscale_gradients, unscale_by_inverse])
def test_unscale_gradients_accepts_correct_answers(fn) -> None:
    assert_accepted(check_unscale_gradients, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda gs, s: ([g / s for g in gs], False), ["convert to float32 first"]),
        (lambda gs, s: ([g.float() * s for g in gs], False), ["do not multiply"]),
        (lambda gs, s: ([g.float() / s for g in gs], any(bool(torch.isinf(g).any()) for g in gs)), ["misses NaN"]),
        (lambda gs, s: [g.float() / s for g in gs], ["return (unscaled_grads, found_inf)"]),
    ],
)
def test_unscale_gradients_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_unscale_gradients(fn, seed=1), *fragments)


# --- clipped_probabilities_no_break ----------------------------------------------------------------------------
def clamp_always(model, images):
    return model(images).clamp(-5.0, 5.0).softmax(dim=-1)


def clamp_with_where(model, images):
    logits = model(images)
    return torch.where(logits.abs() > 5, 5.0 * logits.sign(), logits).softmax(dim=-1)


def with_the_branch(model, images):  # notebook 13's clipped_probabilities, graph break included
    logits = model(images)
    if logits.abs().max().item() > 5.0:
        logits = logits.clamp(-5.0, 5.0)
    return logits.softmax(dim=-1)


@pytest.mark.parametrize("fn", [clamp_always, clamp_with_where])
def test_no_break_accepts_correct_answers(fn) -> None:
    assert_accepted(check_clipped_probabilities_no_break, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (with_the_branch, ["0 graph breaks", "a Python `if`"]),
        (lambda model, images: model(images).softmax(dim=-1), ["clamp the logits"]),
        (lambda model, images: model(images).clamp(-5, 5).softmax(dim=0), ["values differ"]),
    ],
)
def test_no_break_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_clipped_probabilities_no_break(fn, seed=2), *fragments)


# --- data_parallel_gradients ----------------------------------------------------------------------------------
def data_parallel_gradients(model, loss_fn, inputs, targets, world_size):
    replicas = [copy.deepcopy(model) for _ in range(world_size)]
    for replica, x, y in zip(replicas, inputs.chunk(world_size), targets.chunk(world_size)):
        loss_fn(replica(x), y).backward()
    return [torch.stack(grads).mean(dim=0) for grads in zip(*[[p.grad for p in r.parameters()] for r in replicas])]


def accumulate_then_divide(model, loss_fn, inputs, targets, world_size):  # one model, the sum of the shards / N
    model.zero_grad()
    size = len(inputs) // world_size
    for rank in range(world_size):
        shard = slice(rank * size, (rank + 1) * size)
        loss_fn(model(inputs[shard]), targets[shard]).backward()
    return [p.grad / world_size for p in model.parameters()]


def summed(model, loss_fn, inputs, targets, world_size):
    return [g * world_size for g in data_parallel_gradients(model, loss_fn, inputs, targets, world_size)]


def whole_batch(model, loss_fn, inputs, targets, world_size):
    model.zero_grad()
    loss_fn(model(inputs), targets).backward()
    return [p.grad.clone() for p in model.parameters()]


def clones_without_zeroing(model, loss_fn, inputs, targets, world_size):
    model.zero_grad()
    kept = []
    for x, y in zip(inputs.chunk(world_size), targets.chunk(world_size)):
        loss_fn(model(x), y).backward()  # adds to the previous shard's gradient
        kept.append([p.grad.clone() for p in model.parameters()])
    return [sum(grads) / world_size for grads in zip(*kept)]


@pytest.mark.parametrize("fn", [data_parallel_gradients, accumulate_then_divide])
def test_data_parallel_gradients_accepts_correct_answers(fn) -> None:
    assert_accepted(check_data_parallel_gradients, fn)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (summed, ["that is the sum over the replicas"]),
        (whole_batch, ["each replica sees only its shard"]),
        (clones_without_zeroing, ["starts from zero gradients"]),
        (lambda *args: None, ["a list of", "returned None"]),
    ],
)
def test_data_parallel_gradients_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_data_parallel_gradients(fn, seed=3), *fragments)


# --- shard_indices --------------------------------------------------------------------------------------------
def shard_strided(num_examples, world_size, rank):
    total = math.ceil(num_examples / world_size) * world_size
    indices = list(range(num_examples))
    indices = (indices * math.ceil(total / num_examples))[:total]
    return indices[rank:total:world_size]


def shard_blocks(num_examples, world_size, rank):
    per_rank = -(-num_examples // world_size)
    padded = [i % num_examples for i in range(per_rank * world_size)]
    return torch.tensor(padded[rank * per_rank : (rank + 1) * per_rank])


def shard_with_torch(num_examples, world_size, rank):
    return list(DistributedSampler(range(num_examples), num_replicas=world_size, rank=rank, shuffle=False))


@pytest.mark.parametrize("fn", [shard_strided, shard_blocks, shard_with_torch])
def test_shard_indices_accepts_correct_answers(fn) -> None:
    assert_accepted(check_shard_indices, fn)


def remainder_to_last(n, world, rank):
    size = n // world
    return list(range(rank * size, n if rank == world - 1 else (rank + 1) * size))


def pad_with_minus_one(n, world, rank):
    per_rank = -(-n // world)
    padded = list(range(n)) + [-1] * (per_rank * world - n)
    return padded[rank::world]


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda n, world, rank: list(range(rank * (n // world), (rank + 1) * (n // world))), ["drops"]),
        (lambda n, world, rank: list(range(rank, n, world)), ["unequal counts"]),
        (remainder_to_last, ["unequal counts"]),
        (pad_with_minus_one, ["does not exist"]),
        (lambda n, world, rank: list(range(n)), ["its share only"]),
        (lambda n, world, rank: [0] * -(-n // world), ["read by no rank"]),
        (lambda n, world, rank: float(rank), ["a list of ints"]),
    ],
)
def test_shard_indices_rejects_wrong_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_shard_indices(fn, seed=4), *fragments)


# --- bad input, the global random state -----------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_shard_indices(shard_strided(10, 2, 0)), "something callable")
    assert_rejected(check_unscale_gradients(lambda gs, s: gs[0] @ torch.ones(7, 7)), "your code raised", "input:")

    def forever(num_examples, world_size, rank):
        while True:
            pass

    monkeypatch.setattr(nb13, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb13.check_shard_indices(forever), "time limit of 0.5 s", "shard_indices(num_examples=")


def test_checkers_leave_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_data_parallel_gradients(data_parallel_gradients, seed=0, trials=2)
    check_unscale_gradients(unscale_gradients, seed=0, trials=2)
    assert torch.equal(torch.rand(3), expected)
