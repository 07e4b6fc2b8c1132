"""Diagrams of notebook 05 (recurrent networks): an LSTM cell, with the cell-state highway along the top."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("lstm_cell")
def lstm_cell() -> Figure:
    """One LSTM step: [h_(t-1), x_t] feeds four gates; c_(t-1) -> x f_t -> + i_t*g_t -> c_t along the top;
    h_t = o_t * tanh(c_t)."""
    fig, ax = canvas(10.4, 5.6, scale=0.78)
    top, gate_y = 4.6, 1.9
    # the cell-state highway
    ax.plot([1.0, 9.2], [top, top], color="#dc2626", linewidth=6, alpha=0.18, solid_capstyle="round")
    note(ax, 0.55, top, "$c_{t-1}$", fontsize=12)
    box(ax, 2.75, top - 0.25, 0.5, 0.5, "×", color="op", fontsize=13)
    plus = box(ax, 5.25, top - 0.25, 0.5, 0.5, "+", color="op", fontsize=13)
    note(ax, 9.75, top, "$c_t$", fontsize=12)
    arrow(ax, (0.9, top), (2.75, top))
    arrow(ax, (3.25, top), (5.25, top))
    arrow(ax, (5.75, top), (9.4, top))
    note(ax, 4.2, 5.3, "cell-state highway: one × by $f_t$, one + of $i_t \\odot g_t$, no matrix product",
         fontsize=9.5, color="#b91c1c")
    # the four gates
    gates = [("$f_t$\nσ forget", 2.45, "weight"), ("$i_t$\nσ input", 3.95, "weight"),
             ("$g_t$\ntanh cand.", 5.25, "accent"), ("$o_t$\nσ output", 6.85, "weight")]
    for text, x, color in gates:
        box(ax, x, gate_y - 0.45, 1.1, 0.9, text, color=color, fontsize=9)
    # inputs: [h_(t-1), x_t] on a bus feeding every gate
    box(ax, 0.2, 0.25, 1.7, 0.6, "$h_{t-1}$, $x_t$", color="input", fontsize=11)
    ax.plot([1.9, 7.4], [0.55, 0.55], color="#374151", linewidth=1.2)
    for _, x, _ in gates:
        arrow(ax, (x + 0.55, 0.55), (x + 0.55, gate_y - 0.45))
    note(ax, 4.6, 0.2, "each gate: its own $W x_t + W' h_{t-1} + b$", fontsize=9)
    # forget gate multiplies the old cell state
    arrow(ax, (3.0, gate_y + 0.45), (3.0, top - 0.25))
    # input gate * candidate, added to the highway
    times_i = box(ax, 4.75, 3.05, 0.5, 0.5, "×", color="op", fontsize=13)
    arrow(ax, (4.5, gate_y + 0.45), (4.8, 3.1))
    arrow(ax, (5.8, gate_y + 0.45), (5.2, 3.1))
    arrow(ax, (times_i[0] + 0.1, times_i[1] + 0.25), (plus[0] - 0.1, top - 0.25))
    # output: h_t = o_t * tanh(c_t)
    tanh_c = box(ax, 8.0, 3.25, 0.9, 0.5, "tanh", color="op", fontsize=10)
    arrow(ax, (8.45, top), (8.45, 3.75))
    times_o = box(ax, 8.2, 2.0, 0.5, 0.5, "×", color="op", fontsize=13)
    arrow(ax, (tanh_c[0], 3.25), (times_o[0], 2.5))
    arrow(ax, (7.95, gate_y), (8.2, 2.2))
    box(ax, 9.2, 1.95, 1.0, 0.6, "$h_t$", color="output", fontsize=12)
    arrow(ax, (8.7, 2.25), (9.2, 2.25))
    note(ax, 9.7, 1.45, "output, and\n$h_{t-1}$ of the\nnext step", fontsize=8.5)
    return fig
