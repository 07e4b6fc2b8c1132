"""Diagrams of notebook 10a (attention from first principles)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("attention_matrix")
def attention_matrix() -> Figure:
    """Queries x keys: each row a softmax over the keys; the causal mask blanks the upper triangle."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    words = ["the", "cat", "sat", "down"]
    scores = [[1.2, 0.3, -0.5, 0.8], [0.4, 1.5, 0.2, -0.3], [0.9, 1.1, 0.6, 0.1], [0.2, 0.7, 1.3, 0.5]]
    n, cell = len(words), 0.9
    fig, ax = canvas(8.6, 5.2, scale=0.85)
    x0, y0 = 1.4, 0.4
    for i, row in enumerate(scores):
        allowed = row[: i + 1]
        total = sum(math.exp(s) for s in allowed)
        for j in range(n):
            left, bottom = x0 + j * cell, y0 + (n - 1 - i) * cell
            face: str | tuple[float, float, float]
            if j > i:  # the future: score -inf, weight exactly 0
                face, text = COLORS["highlight"], "−∞\n0"
            else:
                weight = math.exp(row[j]) / total
                face, text = (0.86 - 0.5 * weight, 0.92 - 0.45 * weight, 1.0), f"{weight:.2f}"
            ax.add_patch(Rectangle((left, bottom), cell, cell, facecolor=face, edgecolor=COLORS["line"]))
            ax.text(left + cell / 2, bottom + cell / 2, text, ha="center", va="center", fontsize=9)
    for k, word in enumerate(words):
        ax.text(x0 + k * cell + cell / 2, y0 + n * cell + 0.15, word, ha="center", va="bottom", fontsize=10)
        ax.text(x0 - 0.12, y0 + (n - 1 - k) * cell + cell / 2, word, ha="right", va="center", fontsize=10)
    note(ax, x0 + n * cell / 2, y0 + n * cell + 0.6, "keys (attended to) →", fontsize=10)
    ax.text(0.25, y0 + n * cell / 2, "queries ↓", rotation=90, ha="center", va="center", fontsize=10)
    # one row highlighted: the softmax runs along it
    row_y = y0 + (n - 1 - 2) * cell
    ax.add_patch(Rectangle((x0, row_y), 3 * cell, cell, fill=False, edgecolor="#2563eb", linewidth=2.5))
    ax.add_patch(FancyArrowPatch((x0 + 4 * cell + 0.1, row_y + cell / 2), (x0 + 4 * cell + 0.9, row_y + cell / 2),
                                 arrowstyle="<|-", mutation_scale=12, color="#2563eb", linewidth=1.5))
    right = x0 + n * cell + 1.05
    row = scores[2][:3]
    parts = " + ".join(f"{math.exp(s) / sum(math.exp(t) for t in row):.2f}" for s in row)
    note(ax, right, row_y + cell / 2 + 0.05, f"softmax over one row:\nweights ≥ 0, sum to 1\n({parts})",
         fontsize=9, ha="left", color="#1e3a8a")
    note(ax, right, y0 + n * cell - 0.35, "causal mask: the upper\ntriangle (key after query)\n"
         "gets score −∞ BEFORE\nthe softmax → weight 0", fontsize=9, ha="left", color="#991b1b")
    note(ax, right, y0 + 0.35, "row i = what query i reads:\noutput_i = Σ_j weight_ij · value_j",
         fontsize=9, ha="left")
    return fig
