"""Checkers for notebook 13 (precision and compilation): GradScaler's unscaling, a float16 step that clips the
gradients of the real loss (find the bug), and a softmax that compiles without a graph break.

The tiny models are built under ``torch.random.fork_rng``: a checker never moves the notebook's random state.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
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


# --- Exercise 2 (find the bug): clip the gradients of the real loss ------------------------------------------
def _mlp(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes))


_LR = 0.1  # plain SGD: its step is the gradient itself, so a wrongly clipped gradient shows in the weights


def _fp16_backward(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, scale: float) -> None:
    """``backward`` of ``scale * loss``, the loss computed under float16 autocast (what GradScaler.scale does)."""
    with torch.autocast("cpu", dtype=torch.float16):
        loss = F.cross_entropy(model(images), labels)
    (loss.float() * scale).backward()


def _reference_update(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, scale: float, max_norm: float,
                      kind: str) -> list[torch.Tensor]:
    """How one float16 SGD step moves the weights (after - before): ``right`` (unscale, clip, step), ``bug``
    (clip the scaled gradients, then unscale), ``unclipped`` (no clipping, or clipping after the step) or
    ``twice`` (divided by the scale twice)."""
    replica = copy.deepcopy(model)
    replica.zero_grad()
    _fp16_backward(replica, images, labels, scale)
    grads = [p.grad for p in replica.parameters() if p.grad is not None]
    if kind == "bug":
        torch.nn.utils.clip_grad_norm_(replica.parameters(), max_norm)
    for g in grads:
        g.mul_(1.0 / scale)  # what GradScaler does (the scale is a power of 2: exact)
    if kind in ("right", "twice"):
        torch.nn.utils.clip_grad_norm_(replica.parameters(), max_norm)
    if kind == "twice":
        for g in grads:
            g.mul_(1.0 / scale)
    torch.optim.SGD(replica.parameters(), lr=_LR).step()
    return [(a - b).detach() for a, b in zip(replica.parameters(), model.parameters())]


def _distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """||a - b|| / ||b|| over every tensor of two updates."""
    apart = sum(float(((x - y) ** 2).sum()) for x, y in zip(a, b)) ** 0.5
    return apart / max(sum(float((y**2).sum()) for y in b) ** 0.5, 1e-30)


@exercise("13", "clipped_fp16_step")
def check_clipped_fp16_step(fn: Callable, trials: int = 6, seed: int | None = None) -> CheckResult:
    """Check ``clipped_fp16_step(model, optimizer, scaler, images, labels, max_norm)``: one float16 training step
    (cross-entropy under float16 autocast, ``GradScaler``) whose gradient norm is clipped to ``max_norm``. The
    clipped gradients must be those of the real loss (``scaler.unscale_(optimizer)`` before
    ``clip_grad_norm_``), the step must go through ``scaler.step`` (skipped when a gradient overflowed) and the
    scale through ``scaler.update``. Tiny random MLPs on the CPU, plain SGD (lr 0.1), a clipping norm below and
    above the gradient's, and one case in three with a scale so large that float16 overflows."""
    rng, gen = random_sources(seed)
    hints = {
        "bug": "clip_grad_norm_ measured the *scaled* gradients (the loss was multiplied by the scale), so it "
               "clipped them far too much and the step was tiny; clip the gradients of the real loss",
        "unclipped": "the update is not clipped: clip between backward and scaler.step (clipping after the step "
                     "comes too late)",
        "twice": "the gradients were divided by the scale twice: after scaler.unscale_(optimizer), scaler.step "
                 "does not divide again, but a gradient you divided by hand it does",
    }

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_clipped_fp16_step(clipped_fp16_step)")
        for trial in range(trials):
            features, hidden, classes = rng.randint(2, 5), rng.randint(3, 8), rng.randint(2, 4)
            batch = rng.randint(2, 8)
            model = _seeded(rng, functools.partial(_mlp, features, hidden, classes))
            images = torch.randn(batch, features, generator=gen)
            labels = torch.randint(0, classes, (batch,), generator=gen)
            overflow = trial % 3 == 2
            scale = 2.0**24 if overflow else float(2 ** rng.randint(8, 12))
            norm = sum(float((g**2).sum()) for g in _reference_update(model, images, labels, 1.0, 1e30, "right"))
            factor = 2.0 if trial % 3 == 0 else rng.choice([0.2, 0.5])  # clipping that does not bind, that binds
            max_norm = round(norm**0.5 / _LR * factor, 4)
            case = current["case"] = (
                f"clipped_fp16_step(a {features}-{hidden}-{classes} MLP, SGD(lr={_LR}), "
                f"GradScaler('cpu', init_scale={scale:g}), {batch} images, max_norm={max_norm:g})"
                + (" (float16 overflows at this scale)" if overflow else ""))
            learner = copy.deepcopy(model)
            optimizer = torch.optim.SGD(learner.parameters(), lr=_LR)
            scaler = torch.amp.GradScaler("cpu", init_scale=scale)
            fn(learner, optimizer, scaler, images.clone(), labels.clone(), max_norm)
            got = [(a.detach() - b.detach()) for a, b in zip(learner.parameters(), model.parameters())]
            if overflow:
                if any(not bool(g.isfinite().all()) or bool(g.abs().max() > 0) for g in got):
                    raise fail(case, "the weights unchanged (a gradient overflowed: the step is skipped)",
                               "the weights moved (or became inf/NaN)",
                               "step through scaler.step(optimizer): it skips the step when a gradient is inf or "
                               "NaN (a bare optimizer.step() takes it anyway)")
                if scaler.get_scale() != scale / 2:
                    raise fail(case, f"the scale halved to {scale / 2:g}", f"{scaler.get_scale():g}",
                               "call scaler.update() after scaler.step(optimizer): it halves the scale after "
                               "an overflow")
                continue
            want = _reference_update(model, images, labels, scale, max_norm, "right")
            if _distance(got, want) <= 1e-3:
                continue
            kind = min(hints, key=lambda k: _distance(got, _reference_update(model, images, labels, scale, max_norm,
                                                                           k)))
            close = _distance(got, _reference_update(model, images, labels, scale, max_norm, kind)) <= 1e-3
            norm_of = lambda update: sum(float((u**2).sum()) for u in update) ** 0.5 / _LR  # noqa: E731
            raise fail(case, f"an update of norm {norm_of(want) * _LR:.4g} (clipped gradient norm "
                       f"{norm_of(want):.4g})", f"an update of norm {norm_of(got) * _LR:.4g}",
                       hints[kind] if close else "unscale (scaler.unscale_(optimizer)), clip "
                       "(torch.nn.utils.clip_grad_norm_), then scaler.step(optimizer) and scaler.update()")

    return run_check("clipped_fp16_step", trials, body)


# --- Exercise 3: the same values, one graph -------------------------------------------------------------------
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
