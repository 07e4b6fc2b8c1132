"""course_utils.vision: digit canvases for segmentation (the metrics live in notebook 04)."""

from __future__ import annotations

import pytest
import torch

from course_utils.vision import BACKGROUND, compose_canvases, segmentation_classes


def _digits(n: int = 6, size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Fake digits: a bright square (labels 0..n-1) in the middle of each image."""
    images = torch.zeros(n, size, size, dtype=torch.uint8)
    images[:, 8:20, 10:18] = 255
    images[:, 7, 10:18] = 60  # a faint rim: kept in the canvas, background in the mask
    return images, torch.arange(n) % 10


def test_canvases_have_the_right_shapes_and_types() -> None:
    images, labels = _digits()
    canvases, masks = compose_canvases(images, labels, 5, canvas_size=48, generator=torch.Generator().manual_seed(0))
    assert canvases.shape == masks.shape == (5, 48, 48)
    assert canvases.dtype == torch.uint8 and masks.dtype == torch.int64
    assert int(masks.min()) >= BACKGROUND and int(masks.max()) <= 10


def test_mask_marks_exactly_the_bright_pixels_with_label_plus_one() -> None:
    images, labels = _digits()
    canvases, masks = compose_canvases(images, labels, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(masks != BACKGROUND, canvases >= 128)
    assert ((canvases == 60) & (masks == BACKGROUND)).any()  # the faint rim is background
    for c in range(20):
        present = set(masks[c].unique().tolist()) - {BACKGROUND}
        assert present and present <= {int(v) + 1 for v in labels}


def test_digit_count_respects_the_range() -> None:
    images, labels = _digits(1)
    _, masks = compose_canvases(images, labels, 30, canvas_size=64, digits_per_canvas=(2, 3),
                                generator=torch.Generator().manual_seed(2))
    pixels_per_digit = 12 * 8
    counts = (masks != BACKGROUND).sum(dim=(1, 2)) // pixels_per_digit
    assert counts.min() >= 2 and counts.max() <= 3


def test_same_generator_seed_gives_the_same_canvases() -> None:
    images, labels = _digits()
    a = compose_canvases(images, labels, 4, generator=torch.Generator().manual_seed(3))
    b = compose_canvases(images, labels, 4, generator=torch.Generator().manual_seed(3))
    c = compose_canvases(images, labels, 4, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"images": torch.zeros(2, 28, 28)}, TypeError, "uint8"),
        ({"images": torch.zeros(2, 1, 28, 28, dtype=torch.uint8)}, ValueError, r"\[N, H, W\]"),
        ({"labels": torch.zeros(3, dtype=torch.long)}, ValueError, "one label per image"),
        ({"n_canvases": 0}, ValueError, "n_canvases"),
        ({"canvas_size": 20}, ValueError, "smaller than a digit"),
        ({"digits_per_canvas": (3, 2)}, ValueError, "digits_per_canvas"),
        ({"threshold": 0}, ValueError, "threshold"),
        ({"labels": torch.tensor([-1, 0])}, ValueError, "non-negative"),
    ],
)
def test_bad_inputs_fail_clearly(kwargs: dict, error: type, match: str) -> None:
    args = {"images": torch.full((2, 28, 28), 200, dtype=torch.uint8), "labels": torch.tensor([0, 1]), "n_canvases": 2}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        compose_canvases(**args)


def test_blank_images_cannot_be_placed() -> None:
    with pytest.raises(ValueError, match="blank"):
        compose_canvases(torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), 1)


def test_segmentation_classes() -> None:
    names = segmentation_classes()
    assert len(names) == 11 and names[BACKGROUND] == "background" and names[4] == "3"
