"""Checkers for notebook 13 (scaling out): GradScaler's unscaling, a softmax that compiles without a graph break,
data-parallel gradients averaged like DDP's all-reduce, and DistributedSampler-style shards.

The tiny models are built under ``torch.random.fork_rng``: a checker never moves the notebook's random state.
"""

from __future__ import annotations

import copy
import functools
import logging
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


# --- Exercise 1: unscale what backward produced in float16 ----------------------------------------------------
@exercise("13", "unscale_gradients")
def check_unscale_gradients(fn: Callable, trials: int = 20, seed: int | None = None) -> CheckResult:
    """Check ``unscale_gradients(scaled_grads, scale)`` -> ``(grads, found_inf)``: ``scaled_grads`` is a list of
    float16 tensors, the gradients of ``loss * scale``. Return float32 tensors ``grad / scale``, converted to float32
    *before* dividing (in float16 a gradient of 1e-8 would underflow to 0 again), and whether any scaled gradient
    is inf or NaN (``GradScaler`` then skips the optimizer step and halves the scale)."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_unscale_gradients(unscale_gradients)")
        for trial in range(trials):
            scale = float(2 ** rng.randint(10, 16))
            shapes = [tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2))) for _ in range(rng.randint(1, 3))]
            true = [torch.exp(torch.empty(s).uniform_(math.log(1e-9), math.log(1e-1), generator=gen))
                    * torch.randn(s, generator=gen).sign() for s in shapes]
            true[0].view(-1)[0] = 1e-8  # a small gradient that float16 alone would flush to 0
            scaled = [(g * scale).half() for g in true]
            if trial % 3:
                scaled[rng.randrange(len(scaled))].view(-1)[0] = float("inf") if trial % 3 == 1 else float("nan")
            what = ["inf", "NaN"][trial % 3 - 1] if trial % 3 else "finite"
            case = current["case"] = (f"unscale_gradients({len(scaled)} float16 tensors of shapes {shapes}, "
                                      f"scale={scale:g}) ({what} values)")
            want = [g.float() / scale for g in scaled]
            found_inf = trial % 3 != 0
            got = fn([g.clone() for g in scaled], scale)
            if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[0], (tuple, list)):
                raise fail(case, "(a list of tensors, a bool)", got, "return (unscaled_grads, found_inf)")
            grads, flag = got
            if len(grads) != len(want):
                raise fail(case, f"{len(want)} tensors", f"{len(grads)}", "one unscaled tensor per gradient")
            for i, (g, w) in enumerate(zip(grads, want)):
                if isinstance(g, torch.Tensor) and g.dtype != torch.float32:
                    raise fail(case, f"float32 tensors, e.g. {show(w, 120)}", show(g, 120),
                               "convert to float32 first, then divide: g.float() / scale (in float16 the small "
                               "gradients underflow to 0 again)")
                if problem := tensor_problem(g, w, atol=0.0, rtol=1e-6):
                    close_to_scaled = isinstance(g, torch.Tensor) and g.shape == w.shape and torch.allclose(
                        g.nan_to_num(), (scaled[i].float() * scale).nan_to_num(), rtol=1e-3)
                    hint = "divide by the scale, do not multiply" if close_to_scaled else "g.float() / scale"
                    raise fail(case, f"tensor {i}: {show(w, 150)}", show(g, 150), f"{problem}; {hint}")
            if isinstance(flag, torch.Tensor) and flag.numel() == 1:
                flag = bool(flag.item())
            if not isinstance(flag, bool) or flag != found_inf:
                raise fail(case, f"found_inf={found_inf}", f"found_inf={show(flag, 60)}",
                           "True when any value of any scaled gradient is inf or NaN: not torch.isfinite(g).all() "
                           "(g == inf misses NaN)")

    return run_check("unscale_gradients", trials, body)


# --- Exercise 2: the same values, one graph -------------------------------------------------------------------
@exercise("13", "clipped_probabilities_no_break")
def check_clipped_probabilities_no_break(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``clipped_probabilities_no_break(model, images)``: the softmax over the last dimension of the model's
    logits clamped to [-5, 5] (the values of notebook 13's ``clipped_probabilities``), and ``torch._dynamo.explain``
    finds no graph break in it. The models are tiny random linear layers, with logits inside and outside
    [-5, 5]."""
    rng, gen = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_clipped_probabilities_no_break(clipped_probabilities_no_break)")
        for trial in range(trials):
            features, classes, batch = rng.randint(2, 6), rng.randint(2, 5), rng.randint(1, 6)
            model = _seeded(rng, functools.partial(nn.Linear, features, classes))
            spread = rng.choice([0.5, 1.0]) if trial % 2 else rng.choice([8.0, 20.0])
            images = torch.randn(batch, features, generator=gen) * spread
            with torch.no_grad():
                logits = model(images)
                want = logits.clamp(-5.0, 5.0).softmax(dim=-1)
            outside = bool((logits.abs() > 5).any())
            case = current["case"] = (f"clipped_probabilities_no_break(nn.Linear({features}, {classes}), images of "
                                      f"shape {(batch, features)}) (logits {'outside' if outside else 'inside'} "
                                      "[-5, 5])")
            with torch.no_grad():
                got = fn(model, images.clone())
            if problem := tensor_problem(got, want, atol=1e-6):
                raise fail(case, show(want, 150), show(got, 150), f"{problem}; clamp the logits to [-5, 5], then "
                           "softmax over the last dimension (dim=-1)")
        current["case"] += ", looking for graph breaks with torch._dynamo.explain"
        dynamo_log = logging.getLogger("torch._dynamo")
        level = dynamo_log.level
        dynamo_log.setLevel(logging.ERROR)  # the break is reported below; no warning needed
        try:
            explanation = torch._dynamo.explain(fn)(model, images)
        finally:
            dynamo_log.setLevel(level)
        if explanation.graph_break_count:
            reasons = "; ".join(r.reason.splitlines()[0] for r in explanation.break_reasons)[:200]
            raise fail(current["case"], "0 graph breaks", f"{explanation.graph_break_count} ({reasons})",
                       "a Python `if` on a tensor's value (.item(), bool(...)) breaks the graph: clamp always "
                       "(clamping values already inside [-5, 5] changes nothing) or use torch.where")

    return run_check("clipped_probabilities_no_break", trials, body)


# --- Exercise 3: data parallelism, simulated ------------------------------------------------------------------
def _mlp(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes))


@exercise("13", "data_parallel_gradients")
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


# --- Exercise 4: each rank's share of an epoch -----------------------------------------------------------------
@exercise("13", "shard_indices")
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
