"""Notebook 04's diagrams: a 3x3 convolution sliding over a padded input, and the U-Net of section 8."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, box, canvas, grid, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("conv_sliding")
def conv_sliding() -> Figure:
    """A 5x5 input with padding 1 (7x7 with the zero border), a 3x3 kernel at stride 2, and the 3x3 output."""
    from matplotlib.patches import Rectangle

    fig, ax = canvas(11.5, 6.1, scale=0.75)
    cell = 0.6
    values = [[0] * 7] + [[0, 3, 1, 0, 2, 1, 0], [0, 0, 2, 4, 1, 0, 0], [0, 1, 0, 3, 2, 2, 0],
                          [0, 2, 1, 0, 1, 3, 0], [0, 0, 3, 1, 0, 1, 0]] + [[0] * 7]
    pad = {(r, c) for r in range(7) for c in range(7) if r in (0, 6) or c in (0, 6)}
    x0, y0 = 0.4, 0.9
    grid(ax, x0, y0, [["" if (r, c) in pad else v for c, v in enumerate(row)] for r, row in enumerate(values)],
         cell=cell, color="input", fontsize=9)
    for r, c in pad:  # the zero border added by padding=1
        ax.add_patch(Rectangle((x0 + c * cell, y0 + (6 - r) * cell), cell, cell, facecolor="white",
                               edgecolor="#9ca3af", hatch="///", linewidth=0.6))
    for left, top, colour in ((0, 0, "#dc2626"), (2, 0, "#2563eb")):  # two kernel positions, stride 2
        ax.add_patch(Rectangle((x0 + left * cell, y0 + (7 - top - 3) * cell), 3 * cell, 3 * cell, fill=False,
                               edgecolor=colour, linewidth=2.5))
    note(ax, x0 + 3.5 * cell, y0 - 0.35, "input 5x5 + padding 1 (hatched zeros) = 7x7", fontsize=9)
    note(ax, x0 + 3.5 * cell, y0 + 7 * cell + 0.3, "the kernel jumps stride = 2 pixels", fontsize=9)
    kx, ky = 5.3, 2.4
    grid(ax, kx, ky, [[1, 0, -1], [1, 0, -1], [1, 0, -1]], cell=cell, color="weight", fontsize=9)
    note(ax, kx + 1.5 * cell, ky - 0.35, "3x3 kernel (weights)", fontsize=9)
    note(ax, kx + 1.5 * cell, ky + 3 * cell + 0.35, "multiply, sum", fontsize=9)
    arrow(ax, (x0 + 7 * cell + 0.1, ky + 1.5 * cell), (kx - 0.1, ky + 1.5 * cell))
    ox, oy = 8.6, 2.1
    out = [["a", "b", ""], ["", "", ""], ["", "", ""]]
    grid(ax, ox, oy, out, cell=cell, color="output", fontsize=10)
    ax.add_patch(Rectangle((ox, oy + 2 * cell), cell, cell, fill=False, edgecolor="#dc2626", linewidth=2.5))
    ax.add_patch(Rectangle((ox + cell, oy + 2 * cell), cell, cell, fill=False, edgecolor="#2563eb", linewidth=2.5))
    arrow(ax, (kx + 3 * cell + 0.1, ky + 1.5 * cell), (ox - 0.1, ky + 1.5 * cell))
    note(ax, ox + 1.5 * cell, oy - 0.35, "output 3x3", fontsize=9)
    note(ax, 8.0, 0.75, "out = (size + 2*padding - kernel) // stride + 1", fontsize=10, color=COLORS["line"])
    note(ax, 8.0, 0.35, "     = (5 + 2 - 3) // 2 + 1 = 3", fontsize=10, color=COLORS["line"])
    note(ax, 5.75, 5.85, "one output number per position of the kernel; the same 9 weights everywhere",
         fontsize=10, weight="bold")
    return fig


@figure("unet_shape")
def unet_shape() -> Figure:
    """The small U-Net of section 8: encoder down, decoder up, skip connections across."""
    fig, ax = canvas(11.0, 5.4, scale=0.75)
    widths = ["16", "32", "64"]
    sides = ["40x40", "20x20", "10x10"]
    levels = [(0.5, 3.9), (2.3, 2.4), (4.1, 0.9)]
    for i, ((x, y), w, side) in enumerate(zip(levels, widths, sides)):
        box(ax, x, y, 1.9, 0.8, f"double conv\n{w} ch, {side}", color="input" if i < 2 else "accent", fontsize=9)
        if i < 2:  # decoder twin
            dx = 10.5 - x - 1.9
            box(ax, dx, y, 1.9, 0.8, f"double conv\n{w} ch, {side}", color="output", fontsize=9)
            arrow(ax, (x + 1.95, y + 0.4), (dx - 0.05, y + 0.4), text="skip: concatenate", color="#2563eb")
    arrow(ax, (1.45, 3.85), (2.9, 3.25), text="max-pool /2")
    arrow(ax, (3.25, 2.35), (4.7, 1.75), text="max-pool /2")
    arrow(ax, (6.0, 1.75), (7.4, 2.35), text="ConvTranspose x2")
    arrow(ax, (7.9, 3.25), (9.2, 3.85), text="ConvTranspose x2")
    box(ax, 8.6, 0.5, 1.9, 0.7, "1x1 conv\n11 scores / pixel", color="highlight", fontsize=9)
    arrow(ax, (9.55, 3.85), (9.55, 1.25))
    note(ax, 1.45, 5.1, "encoder: what is it?\n(context grows, size shrinks)", fontsize=9)
    note(ax, 9.55, 5.1, "decoder: where exactly?\n(size grows back)", fontsize=9)
    note(ax, 0.2, 3.6, "canvas\n1 ch", fontsize=9, ha="left")
    return fig
