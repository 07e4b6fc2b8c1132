"""course_utils.generalization: the learning-rate range test sweeps, stops on divergence and restores the model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.generalization import LRRangeResult, lr_range_test, lr_sweep


def test_lr_sweep_is_geometric_with_both_ends() -> None:
    lrs = lr_sweep(1e-4, 1.0, 5)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert all(r == pytest.approx(10.0) for r in ratios)


@pytest.mark.parametrize(("lo", "hi", "n", "fragment"), [(1.0, 1e-3, 10, "larger than lr_min"),
                                                          (1e-3, 1.0, 1, "at least 2"), (0.0, 1.0, 10, "lr_min")])
def test_lr_sweep_rejects_bad_arguments(lo, hi, n, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        lr_sweep(lo, hi, n)


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 8, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    return model, loader


def test_range_test_restores_model_and_optimizer_and_suggests_below_the_minimum() -> None:
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    result = lr_range_test(model, loader, nn.functional.cross_entropy, optimizer, torch.device("cpu"),
                           lr_min=1e-4, lr_max=100.0, num_steps=60)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert optimizer.param_groups[0]["lr"] == 0.123 and not optimizer.state
    assert not model.training  # the mode it was in
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    assert len(result.lrs) < 60  # an lr of 100 with momentum diverges: the test stopped early
    assert result.suggestion == pytest.approx(result.lr_at_min / 10)
    assert result.lrs[0] <= result.lr_at_min <= result.lrs[-1]
    assert "suggested lr" in str(result)


def test_range_test_cycles_over_a_short_loader_and_smooths_with_bias_correction() -> None:
    model, loader = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_range_test(model, loader, nn.functional.cross_entropy, optimizer, torch.device("cpu"),
                           lr_min=1e-6, lr_max=1e-5, num_steps=20, beta=0.5)  # 8 batches: cycles over them
    assert len(result.lrs) == 20
    assert result.smoothed[0] == pytest.approx(result.losses[0])  # bias correction: no pull towards 0
    expected = 0.5 * result.losses[0] * 0.5 + 0.5 * result.losses[1]
    assert result.smoothed[1] == pytest.approx(expected / (1 - 0.5**2))


def test_lr_at_min_ignores_non_finite_losses_and_fails_clearly_without_any() -> None:
    result = LRRangeResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, math.inf], [1.0, 0.6, math.nan])
    assert result.lr_at_min == 1e-2
    with pytest.raises(ValueError, match="NaN or infinite"):
        _ = LRRangeResult([1e-3], [math.nan], [math.nan]).lr_at_min


def test_range_test_rejects_an_empty_loader_and_bad_beta() -> None:
    model, _ = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    empty = DataLoader(TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="no batch"):
        lr_range_test(model, empty, nn.functional.cross_entropy, optimizer, torch.device("cpu"), num_steps=5)
    with pytest.raises(ValueError, match="beta"):
        lr_range_test(model, empty, nn.functional.cross_entropy, optimizer, torch.device("cpu"), beta=1.0)
