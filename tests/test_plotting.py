"""course_utils.plotting returns figures and rejects bad shapes."""

from __future__ import annotations

import matplotlib

matplotlib.use("agg")
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import plotting


def test_plot_history() -> None:
    fig = plotting.plot_history({"train_loss": [2, 1], "val_loss": [2.1, 1.2], "val_accuracy": [0.5, 0.8]})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(KeyError, match="has no"):
        plotting.plot_history({"train_loss": [1]}, keys=["val_loss"])


def test_show_images() -> None:
    fig = plotting.show_images(torch.rand(10, 1, 8, 8), titles=[str(i) for i in range(10)], ncols=5)
    assert sum(ax.images != [] for ax in fig.axes) == 10
    with pytest.raises(ValueError, match="titles"):
        plotting.show_images(torch.rand(2, 8, 8), titles=["a"])
    with pytest.raises(ValueError, match="no images"):
        plotting.show_images(torch.rand(0, 8, 8))


def test_show_images_shared_colour_scale() -> None:
    masks = torch.tensor([[[0, 1], [1, 1]], [[0, 3], [3, 0]]])
    fig = plotting.show_images(masks, cmap="nipy_spectral", vmin=0, vmax=10)
    for ax in fig.axes:
        image = ax.images[0]
        assert image.get_clim() == (0, 10) and image.get_cmap().name == "nipy_spectral"
    default = plotting.show_images(masks)  # without vmin/vmax each panel is scaled to its own range
    assert [ax.images[0].get_clim() for ax in default.axes] == [(0, 1), (0, 3)]


def test_heatmap_and_confusion_matrix() -> None:
    fig = plotting.plot_heatmap(torch.rand(3, 4), ["a", "b", "c", "d"], ["x", "y", "z"], title="t", annotate=True)
    assert fig.axes[0].get_title() == "t"
    with pytest.raises(ValueError, match="2-D"):
        plotting.plot_heatmap(torch.rand(3))
    fig = plotting.plot_confusion_matrix(torch.tensor([[3, 1], [0, 4]]), ["neg", "pos"], normalize=True)
    assert fig.axes[0].get_xlabel() == "predicted"
    with pytest.raises(ValueError, match="does not match"):
        plotting.plot_confusion_matrix(torch.eye(3), ["a", "b"])
