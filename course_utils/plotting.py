"""Plotting helpers: training curves, image grids, confusion matrices and heatmaps (matplotlib).

Each returns the matplotlib ``Figure`` so a notebook can save it or tweak it; in Jupyter it is shown inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.validation import describe, require_bool, require_positive_int, require_str_list


def _numpy(x: object) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def plot_history(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None, title: str = "") -> Figure:
    """Curves of a training history (e.g. ``fit``'s): losses on the left axis, accuracies on the right panel."""
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a dict of lists such as fit() returns ({{'train_loss': [...]}}), "
                        f"got {describe(history)}")
    if keys is not None:
        keys = require_str_list("keys", keys, example="['train_loss', 'val_loss']")
    keys = list(keys or [k for k in history if k != "seconds"])
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {list(history)}")
    losses = [k for k in keys if "acc" not in k]
    accs = [k for k in keys if "acc" in k]
    fig, axes = plt.subplots(1, 2 if accs and losses else 1, figsize=(10 if accs and losses else 5, 3.5), squeeze=False)
    panels = [(losses, "loss"), (accs, "accuracy")]
    for ax, (group, label) in zip(axes[0], [p for p in panels if p[0]]):
        for key in group:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=key)
        ax.set_xlabel("epoch" if max(len(history[k]) for k in group) < 100 else "step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(
    images: torch.Tensor | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """A grid of images ([N, H, W], [N, 1, H, W] or [N, 3, H, W]) with optional titles.

    By default each grayscale image is scaled to its own min and max. Pass ``vmin``/``vmax`` to put every panel on
    one colour scale, as label masks need (e.g. ``cmap="nipy_spectral", vmin=0, vmax=10`` for 11 classes: a class
    keeps its colour in every panel). Pixels are drawn as squares (no interpolation).
    """
    ncols = require_positive_int("ncols", ncols, example="8")
    array = _numpy(images)
    if array.ndim not in (3, 4):
        raise ValueError(f"images must be [N, H, W], [N, 1, H, W] or [N, 3, H, W], got shape {array.shape}: "
                         "one image? add the batch dimension with images[None]")
    if array.ndim == 4:
        array = array[:, 0] if array.shape[1] == 1 else array.transpose(0, 2, 3, 1)
    n = len(array)
    if n == 0:
        raise ValueError("show_images got no images")
    if titles is not None and len(titles) != n:
        raise ValueError(f"{n} images but {len(titles)} titles")
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            gray = array[i].ndim == 2
            ax.imshow(
                array[i], cmap=cmap if gray else None, vmin=vmin if gray else None, vmax=vmax if gray else None,
                interpolation="nearest",
            )
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_heatmap(
    matrix: torch.Tensor | np.ndarray,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
    title: str = "",
    ax: plt.Axes | None = None,
    annotate: bool = False,
    cmap: str = "viridis",
) -> Figure:
    """A labelled heatmap of a 2-D matrix (attention weights, confusion counts, similarities)."""
    values = _numpy(matrix)
    if values.ndim != 2:
        raise ValueError(f"plot_heatmap needs a 2-D matrix, got shape {values.shape}")
    if ax is None:
        size = max(3.0, min(12.0, 0.45 * max(values.shape)))
        fig, ax = plt.subplots(figsize=(size + 1, size))
    else:  # the Figure, also when ax is in a SubFigure (whose .figure is the root Figure)
        fig = ax.figure if isinstance(ax.figure, Figure) else ax.figure.figure
    image = ax.imshow(values, cmap=cmap)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=90, fontsize=8)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    if annotate:
        threshold = values.max() / 2 if values.size else 0
        for (i, j), v in np.ndenumerate(values):
            text = f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if v < threshold else "black")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_confusion_matrix(
    matrix: torch.Tensor | np.ndarray, labels: Sequence[str], normalize: bool = False, title: str = "Confusion matrix"
) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted), optionally normalised per true class."""
    labels = require_str_list("labels", labels, example="['cat', 'dog']")
    normalize = require_bool("normalize", normalize)
    values = _numpy(matrix).astype(float)
    if values.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix shape {values.shape} does not match {len(labels)} labels")
    if normalize:
        values = values / np.clip(values.sum(axis=1, keepdims=True), 1, None)
    fig = plot_heatmap(values, labels, labels, title=title, annotate=len(labels) <= 12, cmap="Blues")
    ax = fig.axes[0]
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig
