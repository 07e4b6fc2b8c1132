"""Diagrams of notebook 03a (nn.Module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("module_tree")
def module_tree() -> Figure:
    """A module tree: what is registered (parameters, buffers, submodules) and a plain tensor that is not."""
    fig, ax = canvas(9.6, 4.6, title="What a module registers, and what it silently ignores")
    box(ax, 3.6, 3.35, 2.4, 0.6, "net (TinyNet)", color="op", fontsize=10)
    children = [
        (0.1, "hidden: nn.Linear", "accent", ["weight", "bias"]),
        (2.45, "out: nn.Linear", "accent", ["weight", "bias"]),
    ]
    for x, label, color, params in children:
        box(ax, x, 2.25, 2.1, 0.55, label, color=color, fontsize=9)
        arrow(ax, (4.8, 3.35), (x + 1.05, 2.8))
        for i, p in enumerate(params):
            box(ax, x + i * 1.1, 1.3, 1.0, 0.5, p, color="weight", fontsize=9)
            arrow(ax, (x + 1.05, 2.25), (x + i * 1.1 + 0.5, 1.8))
    box(ax, 4.85, 2.25, 1.2, 0.55, "scale\nParameter", color="weight", fontsize=8)
    box(ax, 6.2, 2.25, 1.5, 0.55, "mean, std\nbuffers", color="output", fontsize=8)
    box(ax, 7.9, 2.25, 1.6, 0.55, "w_plain\nplain tensor", color="highlight", fontsize=8, linestyle="--")
    for x in (5.45, 6.95):
        arrow(ax, (4.8, 3.35), (x, 2.8))
    arrow(ax, (6.0, 3.6), (8.7, 2.8), style="-", color="#9ca3af")
    note(ax, 8.7, 1.85, "only in __dict__:\nnot in parameters(),\nnot moved by .to(),\nnot in state_dict()",
         fontsize=8, color="#b91c1c")
    note(ax, 4.8, 0.75, "parameters(): the yellow boxes (hidden.weight, hidden.bias, out.weight, out.bias, scale):"
         " what the optimizer updates", fontsize=8)
    note(ax, 4.8, 0.4, "state_dict(): parameters + buffers;  .to(device): parameters + buffers", fontsize=8)
    note(ax, 4.8, 0.08, "fix for w_plain: nn.Parameter(...) if it is trained, register_buffer(...) if not",
         fontsize=8)
    return fig
