"""Diagrams of notebook 13 (precision and compilation): how float32, bfloat16 and float16 spend their bits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# name: (exponent bits, mantissa bits, largest, smallest normal, eps); the numbers are torch.finfo's
FORMATS = {
    "float32": (8, 23, "3.4e38", "1.2e-38", "1.2e-7 (7 digits)"),
    "bfloat16": (8, 7, "3.4e38", "1.2e-38", "7.8e-3 (2-3 digits)"),
    "float16": (5, 10, "65,504", "6.1e-5", "9.8e-4 (3 digits)"),
}


@figure("float_formats")
def float_formats() -> Figure:
    """One row of bits per format: sign, exponent (range), mantissa (precision), with torch.finfo's numbers."""
    from matplotlib.patches import Rectangle

    bit, left = 0.2, 1.7
    fig, ax = canvas(10.0, 4.6, scale=0.8)
    note(ax, 5.0, 4.35, "Three ways to store a real number: the bits of float32, bfloat16 and float16",
         fontsize=12, weight="bold")
    for row, (name, (exponent, mantissa, largest, tiny, eps)) in enumerate(FORMATS.items()):
        y = 3.3 - row * 1.2
        note(ax, 0.1, y + bit / 2, name, fontsize=11, ha="left", weight="bold")
        parts = [("sign", 1, "highlight"), ("exponent", exponent, "weight"), ("mantissa", mantissa, "input")]
        x = left
        for label, count, color in parts:
            for i in range(count):
                ax.add_patch(Rectangle((x + i * bit, y), bit, bit, facecolor=COLORS[color],
                                       edgecolor=COLORS["line"], linewidth=0.6))
            text = f"{count}" if label == "sign" else f"{label}: {count}"
            note(ax, x + count * bit / 2, y - 0.17, text, fontsize=8)
            x += count * bit
        note(ax, left + 32 * bit + 0.15, y + bit / 2, f"largest {largest}\nsmallest normal {tiny}\neps {eps}",
             fontsize=8, ha="left")
    note(ax, 5.0, 0.35, "exponent bits = range (how large, how small); mantissa bits = precision (how many "
         "digits).\nbfloat16 keeps float32's range and loses digits; float16 keeps more digits but overflows "
         "above 65,504.", fontsize=9)
    return fig
