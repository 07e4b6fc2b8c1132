"""Diagrams of notebook 00 (Python for PyTorch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("module_dunders")
def module_dunders() -> Figure:
    """What Python runs behind two lines of every model: an assignment in __init__ and a call model(x)."""
    fig, ax = canvas(9.0, 4.6, title="The Python behind nn.Module: __setattr__ files, __call__ runs")
    # left: assignments go through __setattr__, which files them by type
    note(ax, 2.2, 3.75, "in __init__:  self.name = value", fontsize=10, weight="bold")
    box(ax, 0.9, 2.8, 2.6, 0.6, "Module.__setattr__(name, value)", color="op", fontsize=9)
    rows = [("nn.Parameter", "_parameters", "weight", 1.9), ("nn.Module", "_modules", "accent", 1.15),
            ("anything else", "__dict__ only", "highlight", 0.4)]
    for kind, where, color, y in rows:
        box(ax, 0.1, y, 1.7, 0.5, kind, color="input", fontsize=9)
        box(ax, 2.5, y, 1.8, 0.5, where, color=color, fontsize=9)
        arrow(ax, (1.8, y + 0.25), (2.5, y + 0.25))
    arrow(ax, (2.2, 2.8), (2.2, 2.45))
    note(ax, 2.2, 0.15, "parameters(), .to(), state_dict() read _parameters and _modules", fontsize=8)
    # right: model(x) goes through __call__, which runs forward and the hooks
    note(ax, 6.7, 3.75, "in use:  model(x)", fontsize=10, weight="bold")
    box(ax, 5.6, 2.8, 2.2, 0.6, "Module.__call__(x)", color="op", fontsize=9)
    box(ax, 5.0, 1.7, 1.5, 0.6, "forward(x)", color="weight", fontsize=9)
    box(ax, 7.0, 1.7, 1.7, 0.6, "forward hooks", color="accent", fontsize=9)
    box(ax, 5.9, 0.55, 1.6, 0.6, "output", color="output", fontsize=9)
    arrow(ax, (6.3, 2.8), (5.75, 2.3), text="1")
    arrow(ax, (6.5, 2.0), (7.0, 2.0), text="2")
    arrow(ax, (7.6, 1.7), (7.1, 1.15), text="3")
    note(ax, 6.7, 0.2, "model.forward(x) runs forward alone: the hooks are skipped", fontsize=8)
    return fig
