"""Diagrams of notebook 12 (post-training): LoRA's low-rank update beside a frozen weight, and one GRPO group
(a prompt, its sampled completions, their rewards, group-normalised advantages and the clipped, KL-penalised loss)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("lora_update")
def lora_update() -> Figure:
    """h = W x + (alpha / r) B A x: the frozen path and the trainable low-rank path, with their shapes."""
    fig, ax = canvas(9.0, 4.2, scale=0.85)
    box(ax, 0.2, 1.6, 1.2, 0.9, "x\n[k]", "input")
    box(ax, 3.0, 2.7, 2.4, 1.1, "W   [d x k]\nfrozen (pretrained)", "op")
    box(ax, 2.2, 0.3, 1.6, 1.1, "A   [r x k]\nrandom init", "weight")
    box(ax, 4.9, 0.3, 1.5, 1.1, "B   [d x r]\nzeros init", "weight")
    box(ax, 6.55, 0.45, 0.9, 0.8, "x α/r", "accent")
    box(ax, 7.05, 2.9, 0.7, 0.7, "+", "op")
    box(ax, 8.0, 2.8, 0.9, 0.9, "h\n[d]", "output")
    arrow(ax, (1.4, 2.2), (3.0, 3.25))
    arrow(ax, (1.4, 1.9), (2.2, 0.85))
    arrow(ax, (3.8, 0.85), (4.9, 0.85))
    note(ax, 4.35, 1.1, "r values", fontsize=8)
    arrow(ax, (6.4, 0.85), (6.55, 0.85))
    arrow(ax, (5.4, 3.25), (7.05, 3.25))
    arrow(ax, (7.0, 1.25), (7.4, 2.9))
    arrow(ax, (7.75, 3.25), (8.0, 3.25))
    note(ax, 4.2, 2.15, "trained: A and B only, r (d + k) numbers instead of d k\n"
                        "B = 0 at the start: the adapted layer starts exactly at W x", fontsize=8.5)
    note(ax, 4.5, 4.05, "merge once for inference:  W' = W + (α/r) B A   (same shape as W)", fontsize=9,
         weight="bold")
    return fig


@figure("grpo_group")
def grpo_group() -> Figure:
    """One prompt, G = 4 sampled completions, rewards, advantages (r - group mean) / (group std + 1e-4), loss."""
    rewards = [0.91, 0.62, 0.35, 0.12]
    mean, std = statistics.mean(rewards), statistics.stdev(rewards)  # n - 1, as torch.std and TRL
    replies = ["\"Love it, thanks!\"", "\"Sounds fun.\"", "\"Hope it gets better.\"", "\"Worst flight ever.\""]
    fig, ax = canvas(10.0, 4.9, scale=0.8)
    box(ax, 0.1, 1.9, 1.6, 1.0, "prompt x\n(one tweet)", "input")
    note(ax, 3.45, 4.6, "G = 4 completions\nsampled from the policy", fontsize=8.5)
    note(ax, 5.85, 4.6, "reward r\n(classifier)", fontsize=8.5)
    note(ax, 7.35, 4.6, "advantage A\n(r - mean) / (std + 1e-4)", fontsize=8.5)
    for i, (reply, r) in enumerate(zip(replies, rewards)):
        y = 3.45 - i * 0.95
        box(ax, 2.2, y, 2.5, 0.65, reply, "op", fontsize=8.5)
        arrow(ax, (1.7, 2.4), (2.2, y + 0.32))
        box(ax, 5.35, y, 1.0, 0.65, f"{r:.2f}", "weight", fontsize=9)
        arrow(ax, (4.7, y + 0.32), (5.35, y + 0.32))
        advantage = (r - mean) / (std + 1e-4)
        box(ax, 6.95, y, 0.8, 0.65, f"{advantage:+.2f}", "output" if advantage > 0 else "highlight", fontsize=9)
        arrow(ax, (6.35, y + 0.32), (6.95, y + 0.32))
    note(ax, 6.35, 0.3, f"group mean {mean:.2f}, std {std:.2f}", fontsize=8.5)
    box(ax, 8.05, 1.0, 1.9, 2.8, "", "accent")
    note(ax, 9.0, 3.5, "each completion token:", fontsize=8.5)
    note(ax, 9.0, 3.0, "ratio ρ = π / π_old", fontsize=8.5)
    note(ax, 9.0, 2.5, "-min(ρA, clip(ρ, 0.8, 1.2)A)", fontsize=8)
    note(ax, 9.0, 2.05, "+ β · KL(π ‖ π_ref)", fontsize=8.5)
    note(ax, 9.0, 1.45, "loss: mean over every\ncompletion token", fontsize=8)
    arrow(ax, (7.75, 2.4), (8.05, 2.4))
    return fig
