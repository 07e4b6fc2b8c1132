"""Notebook 14's checkers accept correct answers and reject plausible wrong ones with feedback."""

from __future__ import annotations

import copy
import functools
import math
import random

import pytest
import torch
from checker_helpers import assert_accepted, assert_rejected, stub
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from course_utils.practice import grading
from course_utils.practice.checks import nb14
from course_utils.practice.checks.nb14 import check_data_parallel_gradients, check_epoch_orders, check_shard_indices


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


# --- epoch_orders (find the bug) -------------------------------------------------------------------------------
RUNS = {"offset": 0}


def epoch_orders(num_examples, world_size, rank, epochs, seed, mistake=None):
    dataset = TensorDataset(torch.arange(num_examples))
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=mistake != "unshuffled",
                                 seed=seed + rank if mistake == "seed_per_rank" else seed)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    orders = []
    for epoch in range(epochs):
        if mistake is None or mistake in ("seed_per_rank", "unshuffled"):
            sampler.set_epoch(epoch)
        elif mistake == "unseeded":
            sampler.set_epoch(random.randrange(10**6))
        elif mistake == "new_seed_per_run":  # the same on every rank of one run, another in the next run
            RUNS["offset"] += rank == 0 and epoch == 0
            sampler.set_epoch(epoch + RUNS["offset"])
        order = []
        for (index,) in loader:
            order += index.tolist()
        if mistake == "set_epoch_after":
            sampler.set_epoch(epoch)
        orders.append(order)
    return orders


def epoch_orders_by_hand(num_examples, world_size, rank, epochs, seed):  # one shared permutation per epoch
    per_rank = -(-num_examples // world_size)
    orders = []
    for epoch in range(epochs):
        order = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
        order = (order * 2)[: per_rank * world_size]
        orders.append(order[rank::world_size])
    return orders


@pytest.mark.parametrize("fn", [epoch_orders, epoch_orders_by_hand])
def test_epoch_orders_accepts_correct_answers(fn) -> None:
    assert_accepted(check_epoch_orders, fn)


@pytest.mark.parametrize(
    ("mistake", "fragments"),
    [
        ("no_set_epoch", ["input:", "the same order every epoch", "set_epoch"]),  # the student edition's code
        ("set_epoch_after", ["the same order every epoch"]),
        ("seed_per_rank", ["read by no rank", "the same seed"]),
        ("unshuffled", ["not shuffled"]),
        ("unseeded", ["read by no rank", "the same seed"]),
        ("new_seed_per_run", ["called a second time", "depend only on the seed"]),
    ],
)
def test_epoch_orders_rejects_wrong_answers(mistake: str, fragments: list[str]) -> None:
    assert_rejected(check_epoch_orders(functools.partial(epoch_orders, mistake=mistake), seed=6), *fragments)


@pytest.mark.parametrize(
    ("fn", "fragments"),
    [
        (stub, ["not written yet"]),
        (lambda n, world, rank, epochs, seed: list(range(rank, n, world)), ["a list of", "lists of indices"]),
        (lambda n, world, rank, epochs, seed: [list(range(n))] * epochs, ["indices per rank"]),
    ],
)
def test_epoch_orders_rejects_other_answers(fn, fragments: list[str]) -> None:
    assert_rejected(check_epoch_orders(fn, seed=7), *fragments)


# --- bad input, the global random state -----------------------------------------------------------------------
def test_bad_input_is_feedback_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_rejected(check_shard_indices(shard_strided(10, 2, 0)), "something callable")
    assert_rejected(check_epoch_orders(lambda *args: [[1, 2]] @ 3), "your code raised", "input:")

    def forever(num_examples, world_size, rank):
        while True:
            pass

    monkeypatch.setattr(nb14, "run_check", functools.partial(grading.run_check, time_limit=0.5))
    assert_rejected(nb14.check_shard_indices(forever), "time limit of 0.5 s", "shard_indices(num_examples=")


def test_checkers_leave_the_global_random_state_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_data_parallel_gradients(data_parallel_gradients, seed=0, trials=2)
    check_epoch_orders(epoch_orders, seed=0, trials=2)
    assert torch.equal(torch.rand(3), expected)
