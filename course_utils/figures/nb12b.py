"""Diagrams of notebook 12b (preference optimization)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("dpo_loss_picture")
def dpo_loss_picture() -> Figure:
    """A prompt, its chosen and rejected completions, the policy/reference log-ratio of each, and the sigmoid."""
    fig, ax = canvas(10, 4.6, scale=0.8)
    box(ax, 0.1, 1.9, 1.6, 0.8, "prompt x", color="input")
    box(ax, 2.3, 3.0, 2.0, 0.8, "chosen $y_c$\n(classifier: higher)", color="output", fontsize=9)
    box(ax, 2.3, 0.8, 2.0, 0.8, "rejected $y_r$\n(classifier: lower)", color="highlight", fontsize=9)
    arrow(ax, (1.7, 2.4), (2.3, 3.3))
    arrow(ax, (1.7, 2.2), (2.3, 1.2))
    box(ax, 4.9, 3.0, 2.3, 0.8, r"$\log\pi(y_c|x) - \log\pi_{ref}(y_c|x)$", color="weight", fontsize=9)
    box(ax, 4.9, 0.8, 2.3, 0.8, r"$\log\pi(y_r|x) - \log\pi_{ref}(y_r|x)$", color="weight", fontsize=9)
    arrow(ax, (4.3, 3.4), (4.9, 3.4))
    arrow(ax, (4.3, 1.2), (4.9, 1.2))
    note(ax, 6.05, 4.1, "log-ratio: policy vs frozen reference", fontsize=8)
    note(ax, 6.05, 0.45, "(0 for both at the start: policy = reference)", fontsize=8)
    box(ax, 7.7, 1.85, 2.2, 1.1, "$-\\log\\sigma(\\beta\\,\\times$\n(top $-$ bottom))", color="accent", fontsize=10)
    arrow(ax, (7.2, 3.4), (8.3, 2.95), curve=-0.2)
    arrow(ax, (7.2, 1.2), (8.3, 1.85), curve=0.2)
    note(ax, 8.8, 0.95, "DPO loss: log 2 at the start,\nfalls as the chosen\ncompletion gains", fontsize=8)
    return fig
