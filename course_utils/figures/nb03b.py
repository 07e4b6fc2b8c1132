"""Diagrams of notebook 03b (data utilities)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("dataloader_pipeline")
def dataloader_pipeline() -> Figure:
    """What DataLoader does per batch: sampler -> batch sampler -> workers calling dataset[i] -> collate."""
    fig, ax = canvas(9.8, 4.4, title="Inside a DataLoader: who decides what, where")
    y, h = 1.9, 0.9
    stages = [
        (0.1, 1.6, "sampler\nindex order", "op"),
        (2.05, 1.75, "batch sampler\n[3, 7, 1, 4]", "op"),
        (4.25, 1.9, "worker k\ndataset[i] for\neach index", "input"),
        (6.6, 1.35, "collate_fn\nstack / pad", "op"),
        (8.4, 1.3, "batch\n(x, y)", "output"),
    ]
    for x, w, text, color in stages:
        box(ax, x, y, w, h, text, color=color, fontsize=9)
    for (x0, w0, *_), (x1, *_) in zip(stages, stages[1:]):
        arrow(ax, (x0 + w0, y + h / 2), (x1, y + h / 2))
    box(ax, 0.1, 3.2, 1.6, 0.55, "generator=g\n(None: global RNG)", color="weight", fontsize=8)
    arrow(ax, (0.9, 3.2), (0.9, y + h))
    note(ax, 1.3, 3.0, "order", fontsize=8, ha="left")
    arrow(ax, (1.7, 3.47), (5.2, y + h), curve=-0.12)
    note(ax, 4.4, 3.55, "base_seed: one draw per epoch (per iter(loader))", fontsize=8)
    note(ax, 5.2, 1.45, "worker k seeds random, torch and NumPy\nfrom base_seed + k (since PyTorch 1.9)",
         fontsize=8)
    note(ax, 1.3, 1.45, "shuffle=True: RandomSampler\nshuffle=False: SequentialSampler", fontsize=8)
    note(ax, 8.1, 0.95, "runs in the worker too;\nthe batch is pickled back", fontsize=8)
    note(ax, 4.6, 0.3, "num_workers=0: the notebook's process does the worker's job (one batch at a time);\n"
         "num_workers=N: N processes load batches ahead, each gets whole batches in turn", fontsize=8)
    return fig
