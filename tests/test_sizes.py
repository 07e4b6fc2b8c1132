"""The GPU-sized dry run's switches and the GPU-memory arithmetic (course_utils.sizes)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import sizes

CPU = torch.device("cpu")


def test_the_device_decides_unless_course_sizes_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_SIZES", raising=False)
    assert not sizes.gpu_sizes(CPU) and sizes.gpu_sizes(torch.device("cuda"))
    monkeypatch.setenv("COURSE_SIZES", "gpu")
    assert sizes.gpu_sizes(CPU)
    monkeypatch.setenv("COURSE_SIZES", "cpu")
    assert not sizes.gpu_sizes(torch.device("cuda"))
    monkeypatch.setenv("COURSE_SIZES", "big")
    with pytest.raises(ValueError, match="COURSE_SIZES='big' is not a choice of sizes: use gpu"):
        sizes.gpu_sizes(CPU)


def test_capped_caps_loops_only_in_a_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    assert sizes.capped(6000) == 6000 and not sizes.dry_run()
    monkeypatch.setenv("COURSE_MAX_STEPS", "2")
    assert sizes.dry_run() and sizes.capped(6000) == 2 and sizes.capped(1) == 1
    assert sizes.capped(6, at_least=3) == 3 and sizes.capped(2, at_least=3) == 2
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("COURSE_MAX_STEPS", bad)
        with pytest.raises(ValueError, match="must be a whole number >= 1"):
            sizes.capped(10)


def test_describe_says_what_a_gpu_sized_run_on_a_cpu_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_SIZES", "gpu")
    monkeypatch.setenv("COURSE_MAX_STEPS", "2")
    line = sizes.describe(CPU)
    assert "sizes: GPU (chosen by COURSE_SIZES)" in line and "bf16 on CUDA, pinned memory" in line
    assert "capped at 2 steps" in line
    monkeypatch.delenv("COURSE_SIZES")
    monkeypatch.delenv("COURSE_MAX_STEPS")
    assert sizes.describe(CPU) == "sizes: CPU (the device)"


def test_saved_activations_are_measured_once_per_storage_without_the_weights() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    x = torch.randn(8, 10)
    # Linear 1 saves its input x; ReLU saves its output, which Linear 2 saves again (one storage): 8*(10+20) floats
    assert sizes.saved_activation_bytes(lambda: model(x).sum(), model) == 4 * 8 * (10 + 20)
    with torch.no_grad():
        assert sizes.saved_activation_bytes(lambda: model(x).sum(), model) == 0  # nothing saved without autograd


def test_gpu_memory_is_notebook_11s_arithmetic_and_names_the_smallest_gpu() -> None:
    model = nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 4))
    model[0].requires_grad_(False)  # frozen: weights only, no gradient or AdamW state
    ids = torch.randint(0, 100, (5, 7))
    need = sizes.gpu_memory(model, lambda: model(ids).sum())
    frozen, trainable = 100 * 16, 16 * 4 + 4
    assert (need.weights, need.gradients, need.optimizer) == (4 * (frozen + trainable), 4 * trainable, 8 * trainable)
    assert need.activations == 4 * 5 * 7 * 16  # the embedding output Linear saves (the ids need no gradient)
    assert need.smallest_gpu.startswith("a 16 GB T4")
    big = sizes.GpuMemory(weights=10**10, gradients=10**10, optimizer=2 * 10**10, activations=0)
    assert big.smallest_gpu == "an 80 GB A100 or H100" and "40.00 GB" in str(big)
    assert sizes.GpuMemory(10**11, 0, 0, 0).smallest_gpu.startswith("more than one 80 GB GPU")
