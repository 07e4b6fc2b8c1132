"""Notebook 07's diagram: which weights change in full fine-tuning and with a frozen encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _model(ax: Axes, x: float, title: str, encoder_trains: bool) -> None:
    note(ax, x + 1.6, 5.55, title, fontsize=11, weight="bold")
    box(ax, x + 0.2, 0.5, 2.8, 0.6, "tokens of a tweet", color="input", fontsize=9)
    layer_colour = "highlight" if encoder_trains else "op"
    box(ax, x + 0.2, 1.35, 2.8, 0.6, "embeddings", color=layer_colour, fontsize=9)
    for i in range(3):
        label = "transformer layer " + ("1" if i == 0 else "..." if i == 1 else "6")
        box(ax, x + 0.2, 2.1 + 0.7 * i, 2.8, 0.55, label, color=layer_colour, fontsize=9)
    box(ax, x + 0.2, 4.35, 2.8, 0.65, "NEW head: 384 -> 2\n(random at the start)", color="highlight", fontsize=9)
    for y0, y1 in ((1.1, 1.35), (1.95, 2.1), (3.95, 4.35)):
        arrow(ax, (x + 1.6, y0), (x + 1.6, y1))
    side = "gradients reach every weight" if encoder_trains else "encoder frozen: requires_grad=False"
    note(ax, x + 1.6, 0.15, side, fontsize=9)


@figure("fine_tuning_weights")
def fine_tuning_weights() -> Figure:
    """Two copies of the classifier, the weights that change coloured red."""
    fig, ax = canvas(8.6, 6.0, scale=0.8)
    _model(ax, 0.2, "full fine-tuning", encoder_trains=True)
    _model(ax, 4.6, "frozen encoder (head only)", encoder_trains=False)
    box(ax, 3.65, 3.0, 0.6, 0.35, "", color="highlight", fontsize=8)
    note(ax, 3.95, 2.75, "changes", fontsize=8)
    box(ax, 3.65, 2.1, 0.6, 0.35, "", color="op", fontsize=8)
    note(ax, 3.95, 1.85, "fixed", fontsize=8)
    return fig
