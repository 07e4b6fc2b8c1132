"""Diagrams of notebook 01 (tensors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, canvas, grid, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("storage_stride")
def storage_stride() -> Figure:
    """A 2x3 tensor and its transposed view: two windows (shape, stride) onto one flat storage."""
    fig, ax = canvas(9.0, 4.8, title="One storage, two views: shape + stride say how to walk it")
    cell = 0.55
    left = 3.0  # the flat storage, at the bottom
    grid(ax, left, 0.6, [[0, 1, 2, 3, 4, 5]], cell=cell, color="weight", highlight={(0, 5)})
    note(ax, left + 3 * cell, 0.3, "storage: 6 numbers in a row (x.untyped_storage()); here value = position",
         fontsize=8)
    grid(ax, 0.8, 2.3, [[0, 1, 2], [3, 4, 5]], cell=cell, color="input", highlight={(1, 2)})
    note(ax, 0.8 + 1.5 * cell, 3.85, "x = arange(6).view(2, 3)", fontsize=9, weight="bold")
    note(ax, 0.8 + 1.5 * cell, 3.6, "shape (2, 3), stride (3, 1)", fontsize=9)
    note(ax, 0.8 + 1.5 * cell, 2.05, "x[1, 2] at 1·3 + 2·1 = 5", fontsize=8)
    grid(ax, 7.2, 1.9, [[0, 3], [1, 4], [2, 5]], cell=cell, color="accent", highlight={(2, 1)})
    note(ax, 7.2 + cell, 3.95, "x.t(): a view, no copy", fontsize=9, weight="bold")
    note(ax, 7.2 + cell, 3.7, "shape (3, 2), stride (1, 3)", fontsize=9)
    note(ax, 7.2 + cell, 1.65, "x.t()[2, 1] at 2·1 + 1·3 = 5", fontsize=8)
    target = (left + 5.5 * cell, 0.6 + cell)
    arrow(ax, (0.8 + 2.5 * cell, 2.3), target, color=COLORS["line"])
    arrow(ax, (7.2 + 1.5 * cell, 1.9), target, color=COLORS["line"])
    note(ax, 4.6, 3.3, "element [i, j] sits at offset + i·stride[0] + j·stride[1];\na transpose swaps the strides, "
         "so x.t() is not contiguous:\nx.t().view(6) fails, x.t().reshape(6) copies", fontsize=8)
    return fig
