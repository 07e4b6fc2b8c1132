"""Diagrams of notebook 10b (the encoder-decoder translator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("encoder_decoder_cross_attention")
def encoder_decoder_cross_attention() -> Figure:
    """Encoder over the source; decoder blocks whose cross-attention takes queries from the target and keys and
    values from the encoder output."""
    fig, ax = canvas(9.4, 5.6, scale=0.85)
    # encoder column
    box(ax, 0.4, 0.3, 3.0, 0.6, "English: <s> In the beginning </s>", "input", fontsize=8.5)
    box(ax, 0.4, 1.3, 3.0, 0.6, "embedding ×√d + positions", "op", fontsize=9)
    box(ax, 0.4, 2.3, 3.0, 1.1, "encoder block × N\nself-attention (padding mask)\n+ feed-forward", "accent",
        fontsize=9)
    box(ax, 0.4, 3.9, 3.0, 0.6, "memory [source len, d]", "output", fontsize=9)
    arrow(ax, (1.9, 0.9), (1.9, 1.3))
    arrow(ax, (1.9, 1.9), (1.9, 2.3))
    arrow(ax, (1.9, 3.4), (1.9, 3.9))
    # decoder column
    box(ax, 5.4, 0.3, 3.6, 0.6, "Spanish, shifted right: <s> En el", "input", fontsize=8.5)
    box(ax, 5.4, 1.3, 3.6, 0.6, "masked (causal) self-attention", "accent", fontsize=9)
    box(ax, 5.4, 2.3, 3.6, 0.9, "cross-attention\nQ from the decoder", "highlight", fontsize=9)
    box(ax, 5.4, 3.6, 3.6, 0.6, "feed-forward", "accent", fontsize=9)
    box(ax, 5.4, 4.6, 3.6, 0.6, "logits = h · Eᵀ → next: principio", "output", fontsize=8.5)
    for y0, y1 in ((0.9, 1.3), (1.9, 2.3), (3.2, 3.6), (4.2, 4.6)):
        arrow(ax, (7.2, y0), (7.2, y1))
    arrow(ax, (3.4, 4.2), (5.4, 2.75), "K, V", curve=-0.2)
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((5.25, 1.15), 3.9, 3.2, fill=False, linestyle="--", edgecolor="#6b7280"))
    note(ax, 4.35, 1.5, "decoder block × N\n(each sub-layer:\nx + f(norm(x)))", fontsize=8.5, color="#374151")
    note(ax, 1.9, 5.05, "every decoder query looks at every\nsource position; the padding mask\nhides <pad> keys",
         fontsize=8.5)
    return fig
