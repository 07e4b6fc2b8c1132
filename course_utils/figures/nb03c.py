"""Diagrams of notebook 03c (generalization): under- vs over-fitting, and the three splits of early stopping."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("fit_regimes")
def fit_regimes() -> Figure:
    """Three polynomial fits of the same noisy points (too simple, about right, too flexible) and the training
    and validation losses over training time, with the early-stopping point."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(-1, 1, 12))
    truth = np.sin(2.5 * x)
    y = truth + rng.normal(0, 0.25, x.size)
    grid = np.linspace(-1, 1, 200)
    fig = Figure(figsize=(10, 3.2))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.35]})
    titles = ("under-fit: degree 1\nhigh train and val error", "about right: degree 3\nlow val error",
              "over-fit: degree 11\ntrain error 0, val error high")
    for ax, degree, title in zip(axes[:3], (1, 3, 11), titles):
        coef = np.polynomial.polynomial.polyfit(x, y, degree)
        ax.plot(grid, np.sin(2.5 * grid), color="#9ca3af", linestyle="--", linewidth=1, label="truth")
        ax.plot(grid, np.polynomial.polynomial.polyval(grid, coef), color="#2563eb", linewidth=1.8, label="model")
        ax.scatter(x, y, s=14, color="#111827", zorder=3, label="training points")
        ax.set_ylim(-2, 2)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7, loc="lower right")
    ax = axes[3]
    t = np.linspace(0, 1, 200)
    train = 0.05 + 0.95 * np.exp(-6 * t)
    val = 0.25 + 0.85 * np.exp(-6 * t) + 0.5 * t**2
    best = int(np.argmin(val))
    ax.plot(t, train, color="#2563eb", label="training loss")
    ax.plot(t, val, color="#dc2626", label="validation loss")
    ax.axvline(t[best], color="#374151", linestyle=":", linewidth=1)
    ax.annotate("early stopping:\nkeep these weights", (t[best], val[best]), (0.45, 0.8), fontsize=8,
                arrowprops={"arrowstyle": "->", "color": "#374151"})
    ax.text(0.03, 0.06, "under-fit", fontsize=8, transform=ax.transAxes)
    ax.text(0.72, 0.06, "over-fit", fontsize=8, transform=ax.transAxes)
    ax.set_xlabel("training time (epochs)", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("the gap opens with training", fontsize=9)
    fig.tight_layout()
    return fig


@figure("three_splits")
def three_splits() -> Figure:
    """The data split three ways, and which decision each part may inform."""
    fig, ax = canvas(10, 3.4, scale=0.8)
    box(ax, 0.3, 1.9, 5.0, 0.8, "training set: the gradients come from here", color="input", fontsize=9)
    box(ax, 5.4, 1.9, 2.3, 0.8, "validation set", color="weight", fontsize=9)
    box(ax, 7.8, 1.9, 1.9, 0.8, "test set", color="output", fontsize=9)
    note(ax, 2.8, 3.05, "fit the weights", fontsize=9)
    note(ax, 6.55, 3.05, "choose: epochs, size,\nweight decay, dropout, lr", fontsize=8)
    note(ax, 8.75, 3.05, "report once,\nat the very end", fontsize=8)
    arrow(ax, (6.55, 1.85), (6.55, 1.05), color=COLORS["line"])
    box(ax, 4.6, 0.2, 3.9, 0.8, "early stopping: keep the epoch\nwith the lowest validation loss",
        color="accent", fontsize=8)
    note(ax, 2.3, 0.6, "every choice made on validation\nmakes its score a little optimistic:\n"
         "that is why the test set stays unseen", fontsize=8)
    return fig
