"""Diagrams of notebook 02 (autograd)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("autograd_graph")
def autograd_graph() -> Figure:
    """e = exp(a·b) + a: forward values left to right, gradients of e flowing back right to left."""
    a, b = 1.5, -0.5
    c = a * b
    d = math.exp(c)
    e = d + a
    grad_c = d  # de/dd = 1, dd/dc = exp(c) = d
    fig, ax = canvas(9.5, 5.0, title="e = exp(a·b) + a: values forward (black), gradients backward (red)")
    red = "#b91c1c"
    nodes = {
        "a": (0.2, 3.0, f"a = {a}\nleaf", "weight"),
        "b": (0.2, 1.15, f"b = {b}\nleaf", "weight"),
        "c": (2.6, 2.05, f"c = a·b\n= {c:.2f}", "op"),
        "d": (4.9, 2.05, f"d = exp(c)\n= {d:.3f}", "op"),
        "e": (7.3, 2.6, f"e = d + a\n= {e:.3f}", "output"),
    }
    w, h = 1.6, 0.8
    for x, y, text, color in nodes.values():
        box(ax, x, y, w, h, text, color=color, fontsize=9)

    def right(n: str) -> tuple[float, float]:
        return nodes[n][0] + w, nodes[n][1] + h / 2

    def left(n: str) -> tuple[float, float]:
        return nodes[n][0], nodes[n][1] + h / 2

    arrow(ax, right("a"), left("c"))
    arrow(ax, right("b"), left("c"))
    arrow(ax, right("c"), left("d"))
    arrow(ax, right("d"), left("e"))
    arrow(ax, (nodes["a"][0] + w, nodes["a"][1] + h - 0.1), (nodes["e"][0], nodes["e"][1] + h - 0.1), curve=-0.12)
    # backward: gradients, in red, under the nodes
    note(ax, 8.1, 2.35, "de/de = 1", fontsize=9, color=red)
    note(ax, 5.7, 1.8, "de/dd = 1", fontsize=9, color=red)
    note(ax, 3.4, 1.8, f"de/dc = 1·exp(c) = {grad_c:.3f}", fontsize=9, color=red)
    note(ax, 1.45, 0.9, f"b.grad = a·{grad_c:.3f} = {a * grad_c:.3f}", fontsize=9, color=red)
    note(ax, 1.5, 2.75, f"a.grad = 1 + b·{grad_c:.3f} = {1 + b * grad_c:.3f}", fontsize=9, color=red)
    note(ax, 1.5, 2.52, "(two paths: their gradients add)", fontsize=8, color=red)
    note(ax, 4.75, 0.3, "forward records a grad_fn per result; backward() walks the graph from e back to the leaves,\n"
         "multiplying local derivatives (chain rule) and adding into each leaf's .grad (AccumulateGrad)", fontsize=8)
    return fig
