"""Diagrams of notebook 14 (distributed training): ring all-reduce, and what each rank holds under DDP and
FSDP / ZeRO-3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, box, canvas, grid, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure

N = 4  # ranks in the diagrams
CHUNKS = "abcd"


@figure("ring_allreduce")
def ring_allreduce() -> Figure:
    """Four ranks in a ring; each gradient cut in 4 chunks; reduce-scatter, then all-gather."""
    import math

    fig, ax = canvas(13.0, 5.0, scale=0.62)
    note(ax, 6.5, 4.7, "Ring all-reduce of 4 ranks: every rank ends with the sum of all 4 gradients",
         fontsize=12, weight="bold")
    centres = []
    for r in range(N):  # the ring: rank 0 on top, clockwise
        angle = math.pi / 2 - r * 2 * math.pi / N
        centres.append((1.6 + 1.1 * math.cos(angle), 2.2 + 1.1 * math.sin(angle)))
    for r, (x, y) in enumerate(centres):
        box(ax, x - 0.38, y - 0.25, 0.76, 0.5, f"rank {r}", color="accent", fontsize=8)
    for r in range(N):
        (x0, y0), (x1, y1) = centres[r], centres[(r + 1) % N]
        arrow(ax, (x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.3), (x0 + (x1 - x0) * 0.7, y0 + (y1 - y0) * 0.7),
              curve=-0.25)
    note(ax, 1.6, 0.55, "each rank sends to the next:\n1/4 of its gradient per step", fontsize=8)
    panels = [
        ("start:\neach rank's own gradient", [[f"{c}{r}" for c in CHUNKS] for r in range(N)], set()),
        ("after reduce-scatter\n(3 steps)",
         [["Σ" + c if i == (r + 1) % N else "·" for i, c in enumerate(CHUNKS)] for r in range(N)],
         {(r, (r + 1) % N) for r in range(N)}),
        ("after all-gather\n(3 more steps)", [["Σ" + c for c in CHUNKS] for _ in range(N)], set()),
    ]
    for p, (title, values, hot) in enumerate(panels):
        x = 3.9 + p * 3.1
        note(ax, x + 1.0, 4.05, title, fontsize=9)
        for r in range(N):
            note(ax, x - 0.35, 3.3 - r * 0.5 + 0.25, f"r{r}", fontsize=8)
        grid(ax, x, 1.8, values, cell=0.5, highlight=hot, color="input" if p == 0 else "output", fontsize=8)
        if p < 2:
            arrow(ax, (x + 2.1, 2.8), (x + 2.85, 2.8))
    note(ax, 8.2, 0.9, "rows: ranks r0-r3; columns: the 4 chunks a-d of the gradient.  Σa = a0 + a1 + a2 + a3.\n"
         "Each rank sends 2(N-1)/N of its gradient's size in all, whatever N: the ring scales.", fontsize=8.5)
    return fig


@figure("ddp_vs_fsdp")
def ddp_vs_fsdp() -> Figure:
    """Per rank: weights (4 B), gradients (4 B), AdamW states (8 B) per parameter, full under DDP, 1/N under
    FSDP / ZeRO-3."""
    from matplotlib.patches import Rectangle

    parts = [("weights", 4, "weight"), ("gradients", 4, "highlight"), ("AdamW states", 8, "accent")]
    unit = 0.25  # width of one byte per parameter
    fig, ax = canvas(12.0, 4.6, scale=0.66)
    note(ax, 6.0, 4.35, "What each of 4 ranks keeps, per parameter of the model", fontsize=12, weight="bold")
    for col, (title, sharded) in enumerate([("DDP: a full copy on every rank (16 bytes)", False),
                                            ("FSDP / ZeRO-3: a quarter on each rank (4 bytes)", True)]):
        left = 0.9 + col * 6.0
        note(ax, left + 2.0, 3.9, title, fontsize=9.5)
        for r in range(N):
            y = 2.85 - r * 0.65
            note(ax, left - 0.45, y + 0.2, f"rank {r}", fontsize=8)
            x = left
            for name, nbytes, color in parts:
                width = nbytes * unit
                ax.add_patch(Rectangle((x, y), width, 0.4, facecolor="white", edgecolor=COLORS["line"],
                                       linewidth=0.6, linestyle="--" if sharded else "-"))
                held = (x + r * width / N, width / N) if sharded else (x, width)
                ax.add_patch(Rectangle((held[0], y), held[1], 0.4, facecolor=COLORS[color],
                                       edgecolor=COLORS["line"], linewidth=0.8))
                if r == 0:
                    note(ax, x + width / 2, y + 0.55, name, fontsize=8)
                x += width
    note(ax, 6.0, 0.35, "FSDP all-gathers a layer's full weights just before its forward and backward, frees "
         "them after,\nand reduce-scatters the gradients: each rank receives only the summed quarter it updates.",
         fontsize=8.5)
    return fig
