"""Diagrams of notebook 11 (gradient accumulation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("gradient_accumulation")
def gradient_accumulation() -> Figure:
    """k micro-batches, each backward adding (loss / k)'s gradient into .grad, then one optimizer step."""
    fig, ax = canvas(9.6, 4.4, scale=0.85)
    k = 4
    box(ax, 0.2, 3.5, 9.2, 0.6, "one batch of N examples  =  k = 4 micro-batches of N / 4", "input", fontsize=10)
    for j in range(k):
        x = 0.3 + j * 2.05
        box(ax, x, 2.35, 1.8, 0.75, f"micro-batch {j + 1}\nloss_{j + 1} / k", "op", fontsize=9)
        arrow(ax, (x + 0.9, 3.5), (x + 0.9, 3.1))
        arrow(ax, (x + 0.9, 2.35), (x + 0.9, 1.75), ".backward()", fontsize=8)
    box(ax, 0.3, 1.05, 7.95, 0.7, ".grad  +=  ∇(loss_1/k)  +=  ∇(loss_2/k)  +=  …   =  ∇(mean loss of the batch)",
        "weight", fontsize=9.5)
    box(ax, 6.6, 0.1, 2.8, 0.6, "optimizer.step()\nthen zero_grad()", "output", fontsize=9)
    arrow(ax, (7.9, 1.05), (7.9, 0.7))
    note(ax, 3.2, 0.45, "zero_grad once per step, never between micro-batches;\nwithout / k the gradient is k times "
         "too large", fontsize=9, color="#991b1b")
    return fig
