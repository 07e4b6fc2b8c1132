"""Diagrams of notebook 10c (a Llama-style decoder)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("modern_decoder_block")
def modern_decoder_block() -> Figure:
    """The Llama block: RMSNorm, RoPE on q and k, GQA with shared K/V heads, SwiGLU, tied embeddings."""
    fig, ax = canvas(11.2, 5.4, scale=0.78)
    # the stack (left)
    box(ax, 1.0, 0.3, 2.4, 0.55, "token ids", "input", fontsize=9)
    box(ax, 1.0, 1.15, 2.4, 0.55, "embedding table E", "weight", fontsize=9)
    box(ax, 1.0, 2.0, 2.4, 1.5, "block × 30\n(right)", "accent", fontsize=9)
    box(ax, 1.0, 3.8, 2.4, 0.55, "RMSNorm", "op", fontsize=9)
    box(ax, 1.0, 4.6, 2.4, 0.55, "logits = h · Eᵀ (tied)", "output", fontsize=9)
    for y0, y1 in ((0.85, 1.15), (1.7, 2.0), (3.5, 3.8), (4.35, 4.6)):
        arrow(ax, (2.2, y0), (2.2, y1))
    arrow(ax, (1.0, 1.45), (1.0, 4.85), "same E", curve=-0.35, fontsize=8)
    # the block (right)
    box(ax, 4.2, 0.3, 2.0, 0.55, "RMSNorm", "op", fontsize=9)
    box(ax, 4.2, 1.15, 2.0, 0.55, "W_Q: 9 heads", "weight", fontsize=9)
    box(ax, 6.5, 1.15, 2.0, 0.55, "W_K, W_V: 3 heads", "weight", fontsize=9)
    box(ax, 4.2, 2.0, 4.3, 0.55, "RoPE: rotate q and k by position (not v)", "highlight", fontsize=9)
    box(ax, 4.2, 2.85, 4.3, 0.55, "repeat_kv: kv head h // 3 serves query head h", "accent", fontsize=9)
    box(ax, 4.2, 3.7, 4.3, 0.55, "causal attention, W_O;  x + …", "op", fontsize=9)
    box(ax, 4.2, 4.55, 4.3, 0.6, "RMSNorm → SwiGLU:\nW_down(SiLU(W_gate x) ⊙ W_up x);  x + …", "weight",
        fontsize=8.5)
    arrow(ax, (5.2, 0.85), (5.2, 1.15))
    arrow(ax, (6.0, 0.85), (7.5, 1.15))
    for x in (5.2, 7.5):
        arrow(ax, (x, 1.7), (x, 2.0))
    for y0, y1 in ((2.55, 2.85), (3.4, 3.7), (4.25, 4.55)):
        arrow(ax, (6.35, y0), (6.35, y1))
    note(ax, 9.85, 2.95, "the KV cache keeps\nonly the 3 kv heads\n(rotated keys):\n3× smaller", fontsize=8.5)
    note(ax, 9.85, 1.1, "no biases;\nRMSNorm: x / rms(x) · g\n(no mean, no bias)", fontsize=8.5)
    return fig
