"""Which sizes a notebook runs, the GPU-sized dry run on a CPU, and the GPU memory those sizes need.

Notebooks 10a-13 choose bigger models, batches and step counts on a CUDA GPU. Without a GPU in CI those lines
would first run on a learner's Colab T4. Two switches let a CPU run them:

- ``COURSE_SIZES=gpu``: :func:`gpu_sizes` says True on any device, so the notebook picks exactly its GPU
  sizes, configs and trainer arguments (``COURSE_SIZES=cpu`` does the opposite on a GPU);
- ``COURSE_MAX_STEPS=N``: :func:`capped` caps every training, evaluation and generation loop the notebook
  routes through it at ``N`` steps or examples, so the GPU-shaped path runs in minutes. The notebook's outcome
  checks then check that the code ran (finite losses, tokens generated), not that it learned
  (:func:`dry_run`).

What only CUDA can do (bf16 autocast on CUDA, pinned memory, CUDA memory statistics) stays keyed to the device
itself, and :func:`describe` says in one line what the run skipped. ``make gpu-dry`` runs every notebook that
calls :func:`gpu_sizes` this way; :func:`gpu_memory` adds up what its GPU settings need on a GPU (notebook 11's
arithmetic: weights, gradients, AdamW's two states, and the activations one step saves, measured) and names the
smallest common GPU that holds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

SIZES_ENV = "COURSE_SIZES"
MAX_STEPS_ENV = "COURSE_MAX_STEPS"
# Common GPUs by memory (GB as sold): what a learner is likely to get, smallest first.
GPUS = ((16, "a 16 GB T4 (Colab's free GPU)"), (24, "a 24 GB L4 or A10"), (40, "a 40 GB A100"),
        (80, "an 80 GB A100 or H100"))
HEADROOM = 1.2  # the CUDA context, the allocator's cache and temporary buffers on top of the arithmetic


def _sizes() -> str:
    value = os.environ.get(SIZES_ENV, "").strip().lower()
    if value not in ("", "auto", "gpu", "cpu"):
        raise ValueError(f"{SIZES_ENV}={value!r} is not a choice of sizes: use gpu (GPU sizes on any device), "
                         "cpu (CPU sizes on any device) or leave it unset (the device decides)")
    return value


def gpu_sizes(device: torch.device) -> bool:
    """True when the notebook should pick its GPU sizes: on a CUDA device, or anywhere with ``COURSE_SIZES=gpu``."""
    choice = _sizes()
    if choice in ("gpu", "cpu"):
        return choice == "gpu"
    return torch.device(device).type == "cuda"


def max_steps() -> int | None:
    """``COURSE_MAX_STEPS`` as a positive int, or None when unset."""
    raw = os.environ.get(MAX_STEPS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_STEPS_ENV}={raw!r} must be a whole number >= 1 (e.g. {MAX_STEPS_ENV}=2), or unset")
    return value


def dry_run() -> bool:
    """True when ``COURSE_MAX_STEPS`` caps the loops: the run checks that the code runs, not that it learns."""
    return max_steps() is not None


def capped(n: int, at_least: int = 1) -> int:
    """``n``, or ``COURSE_MAX_STEPS`` if that is smaller (but never below ``at_least``: a loop that needs two
    epochs to show a resume keeps two)."""
    cap = max_steps()
    return n if cap is None else max(min(n, cap), min(at_least, n))


def describe(device: torch.device) -> str:
    """One line on the sizes this run uses and, in a GPU-sized run without a GPU, what it skips."""
    gpu, cuda = gpu_sizes(device), torch.device(device).type == "cuda"
    chosen = f"chosen by {SIZES_ENV}" if _sizes() in ("gpu", "cpu") else "the device"
    text = f"sizes: {'GPU' if gpu else 'CPU'} ({chosen})"
    if gpu and not cuda:
        text += "; no CUDA here, so bf16 on CUDA, pinned memory and CUDA memory statistics are skipped"
    if dry_run():
        text += f"; dry run: loops capped at {max_steps()} steps (checks that the code runs, not that it learns)"
    return text


def saved_activation_bytes(step: Callable[[], torch.Tensor], model: nn.Module | None = None) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``step()`` runs a forward pass (each
    storage counted once, ``model``'s own parameters not counted): the activations a training step keeps,
    measured rather than guessed."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()} if model is not None else set()
    seen: dict[tuple[torch.device, int], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[(tensor.device, storage.data_ptr())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = step()
    del loss
    return sum(seen.values())


@dataclass(frozen=True)
class GpuMemory:
    """What a training step needs on a GPU, in bytes, and the smallest common GPU that holds it."""

    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        """Everything a step holds at its peak (the backward pass starts with every activation saved)."""
        return self.weights + self.gradients + self.optimizer + self.activations

    @property
    def smallest_gpu(self) -> str:
        """The smallest GPU of :data:`GPUS` whose memory holds the total with :data:`HEADROOM` to spare."""
        need = self.total * HEADROOM / 1e9
        return next((name for gb, name in GPUS if need <= gb), "more than one 80 GB GPU (see notebook 13)")

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {_gb(value)}" for name, value in
                          (("weights", self.weights), ("gradients", self.gradients), ("AdamW", self.optimizer),
                           ("activations", self.activations)))
        return (f"GPU memory of one training step at the GPU settings: {_gb(self.total)} ({parts}); the smallest "
                f"GPU that holds it: {self.smallest_gpu}")


def _gb(value: int) -> str:
    return f"{value / 1e9:.2f} GB" if value >= 1e8 else f"{value / 1e6:.1f} MB"


def gpu_memory(model: nn.Module, step: Callable[[], torch.Tensor], bytes_per_value: int = 4) -> GpuMemory:
    """Notebook 11's arithmetic for ``model`` trained with AdamW in float32 (``bytes_per_value=4``): the weights of
    every parameter, a gradient and two AdamW states per trainable one, and the activations ``step()`` (one
    forward pass of a training batch, returning the loss) saves, measured by :func:`saved_activation_bytes`.

    Mixed precision keeps float32 weights, gradients and states, so only the activations shrink: this is the
    float32 upper bound.
    """
    every = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return GpuMemory(every * bytes_per_value, trainable * bytes_per_value, 2 * trainable * bytes_per_value,
                     saved_activation_bytes(step, model))
