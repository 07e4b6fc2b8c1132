"""The learning-rate range test of notebook 03c, reused by later notebooks to pick a learning rate.

The test (L. Smith, "Cyclical Learning Rates for Training Neural Networks", 2015; popularised by fastai) trains
for a few dozen steps while the learning rate grows exponentially from ``lr_min`` to ``lr_max``, and records the
loss of each step. The loss first barely moves (the rate is too small), then falls fastest, then turns and
explodes (too large). A good learning rate sits below the turn: :func:`lr_range_test` suggests the rate of the
lowest (smoothed) loss divided by 10. The model and the optimizer are restored afterwards, so the test does
not train the model you go on to use.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.training import Batch, _forward
from course_utils.validation import require_positive_int, require_positive_number

__all__ = ["LRRangeResult", "lr_range_test", "lr_sweep"]


def lr_sweep(lr_min: float, lr_max: float, num_steps: int) -> list[float]:
    """``num_steps`` learning rates growing geometrically from ``lr_min`` to ``lr_max`` (both included)."""
    lr_min = require_positive_number("lr_min", lr_min, example="1e-6")
    lr_max = require_positive_number("lr_max", lr_max, example="1.0")
    num_steps = require_positive_int("num_steps", num_steps, example="100")
    if lr_max <= lr_min:
        raise ValueError(f"lr_max ({lr_max}) must be larger than lr_min ({lr_min}): the test sweeps upwards")
    if num_steps < 2:
        raise ValueError(f"num_steps={num_steps}: the sweep needs at least 2 steps (100 is typical)")
    ratio = lr_max / lr_min
    return [lr_min * ratio ** (i / (num_steps - 1)) for i in range(num_steps)]


@dataclass(frozen=True)
class LRRangeResult:
    """The learning rate and the raw and smoothed loss of every step of a range test."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]

    @property
    def lr_at_min(self) -> float:
        """The learning rate of the lowest smoothed loss: already close to too large."""
        finite = [i for i, value in enumerate(self.smoothed) if math.isfinite(value)]
        if not finite:
            raise ValueError("every smoothed loss of the range test is NaN or infinite: lower lr_min")
        return self.lrs[min(finite, key=self.smoothed.__getitem__)]

    @property
    def suggestion(self) -> float:
        """A learning rate to train with: ten times below the one of the lowest smoothed loss."""
        return self.lr_at_min / 10

    def __str__(self) -> str:
        return (f"LR range test: {len(self.lrs)} steps from {self.lrs[0]:.1e} to {self.lrs[-1]:.1e}; lowest "
                f"smoothed loss {min(self.smoothed):.4f} at lr {self.lr_at_min:.1e}; suggested lr "
                f"{self.suggestion:.1e}")


def lr_range_test(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
    num_steps: int = 100,
    beta: float = 0.9,
    diverge: float = 4.0,
) -> LRRangeResult:
    """Train ``num_steps`` steps with the learning rate of every parameter group swept from ``lr_min`` to
    ``lr_max`` (geometrically), cycling over ``loader`` as needed; stop early once the smoothed loss exceeds
    ``diverge`` times its lowest value (or is not finite). The loss is smoothed with an exponential moving
    average (``beta``, bias-corrected like Adam's moments). ``model`` and ``optimizer`` are put back as they were.
    """
    lrs = lr_sweep(lr_min, lr_max, num_steps)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta={beta} must be in [0, 1): 0 is no smoothing, 0.9 is typical")
    diverge = require_positive_number("diverge", diverge, example="4.0")
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    used: list[float] = []
    raw: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    try:
        model.train()
        batches = iter(loader)
        for step, lr in enumerate(lrs, start=1):
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                try:
                    batch = next(batches)
                except StopIteration:
                    raise ValueError("the loader yielded no batch: its dataset is empty") from None
            for group in optimizer.param_groups:
                group["lr"] = lr
            output, target = _forward(model, batch, device)
            loss = loss_fn(output, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = loss.item()
            used.append(lr)
            raw.append(value)
            average = beta * average + (1 - beta) * value
            smoothed.append(average / (1 - beta**step))
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge * best:
                break
            best = min(best, smoothed[-1])
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
    return LRRangeResult(used, raw, smoothed)
