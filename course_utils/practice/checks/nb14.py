"""Checkers for notebook 14 (distributed training): data-parallel gradients averaged like DDP's all-reduce,
DistributedSampler-style shards, and a sampler whose order changes every epoch (find the bug).

The tiny models are built under ``torch.random.fork_rng``: a checker never moves the notebook's random state.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show, tensor_problem


def _seeded(rng: random.Random, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with a seed from ``rng``, leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rng.randrange(2**31))
        return build()


# --- Exercise 1: data parallelism, simulated ------------------------------------------------------------------
def _mlp(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes))


@exercise("14", "data_parallel_gradients")
def check_data_parallel_gradients(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``data_parallel_gradients(model, loss_fn, inputs, targets, world_size)``: simulate ``world_size``
    replicas of ``model``, each computing the gradient of ``loss_fn`` on its own equal shard of the batch, and
    return what each holds after the all-reduce average: a list with one tensor per parameter (in
    ``model.parameters()`` order). It must equal the gradient of the whole batch, and ``loss_fn`` must be called
    on the shards (``world_size`` calls of ``len(inputs) / world_size`` rows), not on the whole batch."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_data_parallel_gradients(data_parallel_gradients)")
        for _ in range(trials):
            world, per_rank = rng.choice([2, 2, 3, 4]), rng.randint(1, 6)
            features, hidden, classes = rng.randint(2, 5), rng.randint(2, 6), rng.randint(2, 4)
            sizes = (features, hidden, classes)
            model = _seeded(rng, functools.partial(_mlp, *sizes))
            inputs = torch.randn(world * per_rank, features, generator=gen)
            targets = torch.randint(0, classes, (world * per_rank,), generator=gen)
            reference = copy.deepcopy(model)
            F.cross_entropy(reference(inputs), targets).backward()
            want = [p.grad if p.grad is not None else torch.zeros_like(p) for p in reference.parameters()]
            calls: list[int] = []

            def loss_fn(logits: torch.Tensor, labels: torch.Tensor, calls: list[int] = calls) -> torch.Tensor:
                calls.append(len(labels))
                return F.cross_entropy(logits, labels)

            case = current["case"] = (f"data_parallel_gradients(a {features}-{hidden}-{classes} MLP, cross-entropy, "
                                      f"a batch of {len(inputs)}, world_size={world})")
            got = fn(model, loss_fn, inputs.clone(), targets.clone(), world)
            if not isinstance(got, (list, tuple)) or len(got) != len(want):
                raise fail(case, f"a list of {len(want)} gradients (one per parameter)", got,
                           "[p.grad for p in replica.parameters()] after averaging")
            for i, (g, w) in enumerate(zip(got, want)):
                if problem := tensor_problem(g, w, atol=1e-6, rtol=1e-4):
                    summed = isinstance(g, torch.Tensor) and g.shape == w.shape and torch.allclose(
                        g, w * world, atol=1e-6, rtol=1e-4)
                    hint = ("that is the sum over the replicas: the all-reduce sums, then DDP divides by world_size"
                            if summed else "each replica starts from zero gradients (a fresh copy.deepcopy(model) "
                            "or zero_grad()), takes its shard's gradient; then average the replicas' gradients")
                    raise fail(case, f"parameter {i}: {show(w, 120)}", show(g, 120), f"{problem}; {hint}")
            if calls != [per_rank] * world:
                raise fail(case, f"loss_fn called on {world} shards of {per_rank} rows", f"calls on {calls} rows",
                           "each replica sees only its shard: split the batch (torch.chunk(inputs, world_size)) and "
                           "compute one gradient per shard")

    return run_check("data_parallel_gradients", trials, body)


# --- Exercise 2: each rank's share of an epoch -----------------------------------------------------------------
@exercise("14", "shard_indices")
def check_shard_indices(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``shard_indices(num_examples, world_size, rank)`` -> the list of example indices that rank ``rank``
    reads in one epoch, as ``DistributedSampler(shuffle=False)`` does it: every rank gets the same number,
    ``ceil(num_examples / world_size)`` (a rank with a batch more would wait forever at the all-reduce), the ranks
    together read every example, and the only repeats are the few examples read twice to even out the counts.
    Any assignment with these properties passes (strided like DistributedSampler, or contiguous blocks)."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_shard_indices(shard_indices)")
        for trial in range(trials):
            world = rng.randint(2, 6)
            n = [world * rng.randint(1, 5), rng.randint(1, world - 1)][trial % 2] if trial < 2 else rng.randint(1, 40)
            per_rank = math.ceil(n / world)
            shards = {}
            for rank in range(world):
                current["case"] = f"shard_indices(num_examples={n}, world_size={world}, rank={rank})"
                got = fn(n, world, rank)
                got = got.tolist() if isinstance(got, torch.Tensor) else got
                if not isinstance(got, (list, tuple, range)) or not all(
                        isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in got):
                    raise fail(current["case"], "a list of ints", show(got, 120), "return a list of indices")
                shards[rank] = [int(i) for i in got]
            case = f"shard_indices(num_examples={n}, world_size={world}, rank=r) for r = 0 ... {world - 1}"
            counts = {rank: len(s) for rank, s in shards.items()}
            if set(counts.values()) != {per_rank}:
                if len(set(counts.values())) > 1:
                    hint = ("unequal counts: the rank with fewer batches leaves the others waiting at the all-reduce; "
                            "pad the index list (repeat indices from its start) to a multiple of world_size first")
                elif per_rank * world > n and counts[0] == n // world:
                    hint = f"num_examples // world_size drops {n % world} example(s): round up and pad instead"
                else:
                    hint = f"each rank reads its share only: ceil(num_examples / world_size) = {per_rank} indices"
                raise fail(case, f"{per_rank} indices on every rank", f"counts per rank {counts}", hint)
            everything = [i for s in shards.values() for i in s]
            if bad := sorted({i for i in everything if not 0 <= i < n}):
                raise fail(case, f"indices in 0 ... {n - 1}", f"shards {shards}", f"index {bad[0]} does not exist: "
                           "pad by repeating real indices, not with -1 or num_examples")
            if missing := sorted(set(range(n)) - set(everything)):
                raise fail(case, "every example on some rank", f"shards {shards}", f"example {missing[0]} is read "
                           "by no rank: shard the whole (padded) index list")

    return run_check("shard_indices", trials, body)


# --- Exercise 3 (find the bug): a new order every epoch --------------------------------------------------------
def _orders_of(fn: Callable, n: int, world: int, rank: int, epochs: int, seed: int, case: str) -> list[list[int]]:
    """``fn(n, world, rank, epochs, seed)`` as a list of ``epochs`` lists of ints (feedback if it is not one)."""
    got = fn(n, world, rank, epochs, seed)
    if isinstance(got, (list, tuple)) and len(got) == epochs:
        orders = [o.tolist() if isinstance(o, torch.Tensor) else o for o in got]
        if all(isinstance(o, (list, tuple)) and all(
                isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in o) for o in orders):
            return [[int(i) for i in o] for o in orders]
    raise fail(case, f"a list of {epochs} lists of indices (one per epoch)", show(got, 120),
               "return orders: one list of example indices per epoch")


@exercise("14", "epoch_orders")
def check_epoch_orders(fn: Callable, trials: int = 8, seed: int | None = None) -> CheckResult:
    """Check ``epoch_orders(num_examples, world_size, rank, epochs, seed)`` -> one list per epoch of the example
    indices rank ``rank`` reads, shuffled like ``DistributedSampler(shuffle=True, seed=seed)``. In every epoch the
    ranks read equal shares that together cover every example; the order changes from one epoch to the next
    (``sampler.set_epoch(epoch)``); and the orders depend only on the arguments, so a second call (a resumed run)
    gives the same ones. Any shuffle with these properties passes."""
    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_epoch_orders(epoch_orders)")
        for _ in range(trials):
            world, n, epochs, data_seed = rng.randint(2, 4), rng.randint(12, 40), rng.randint(3, 4), rng.randrange(100)
            per_rank = math.ceil(n / world)
            orders = {}
            for rank in range(world):
                case = current["case"] = f"epoch_orders(num_examples={n}, world_size={world}, rank={rank}, " \
                                         f"epochs={epochs}, seed={data_seed})"
                orders[rank] = _orders_of(fn, n, world, rank, epochs, data_seed, case)
            case = (f"epoch_orders(num_examples={n}, world_size={world}, rank=r, epochs={epochs}, seed={data_seed}) "
                    f"for r = 0 ... {world - 1}")
            for epoch in range(epochs):
                shards = {rank: orders[rank][epoch] for rank in range(world)}
                counts = {rank: len(s) for rank, s in shards.items()}
                if set(counts.values()) != {per_rank}:
                    raise fail(case, f"{per_rank} indices per rank in every epoch", f"epoch {epoch}: {counts}",
                               "each rank reads its own equal share of the epoch (a DistributedSampler's length)")
                read = [i for s in shards.values() for i in s]
                if missing := sorted(set(range(n)) - set(read)):
                    both = sorted({i for i in read if read.count(i) > 1})
                    raise fail(case, f"every example read by some rank in epoch {epoch}",
                               f"example {missing[0]} read by no rank, example {both[0] if both else '?'} by two",
                               "the ranks shuffled differently: every rank must shuffle with the same seed (then "
                               "each takes its own slice of the one shuffled order)")
            unshuffled = [list(range(n)) * 2 for _ in range(world)]
            plain = {rank: unshuffled[rank][: per_rank * world][rank::world] for rank in range(world)}
            if all(orders[rank][e] == plain[rank] for rank in range(world) for e in range(epochs)):
                raise fail(case, "shuffled orders", f"rank 0 reads {show(orders[0][0], 80)} every epoch",
                           "the examples are not shuffled: a training loader shuffles (shuffle=True)")
            for epoch in range(1, epochs):
                if all(orders[rank][epoch] == orders[rank][epoch - 1] for rank in range(world)):
                    raise fail(case, f"epoch {epoch} in a new order",
                               f"epoch {epoch} repeats epoch {epoch - 1} on every rank (rank 0: "
                               f"{show(orders[0][epoch], 60)})",
                               "the same order every epoch: a DistributedSampler shuffles with seed + its epoch "
                               "number, which stays 0 unless the loop tells it the epoch (sampler.set_epoch(epoch) "
                               "before each epoch)")
            current["case"] = f"epoch_orders(num_examples={n}, world_size={world}, rank=0, epochs={epochs}, " \
                              f"seed={data_seed}), called a second time"
            again = _orders_of(fn, n, world, 0, epochs, data_seed, current["case"])
            if again != orders[0]:
                raise fail(current["case"], f"the same orders as the first call: {show(orders[0][0], 60)} ...",
                           f"{show(again[0], 60)} ...",
                           "the shuffle must depend only on the seed and the epoch (a resumed run, and every rank, "
                           "must get the order the first run had): no unseeded randomness")

    return run_check("epoch_orders", trials, body)
