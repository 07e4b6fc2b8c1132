"""Digit canvases for the segmentation section of notebook 04.

``compose_canvases`` pastes several digits onto a larger blank canvas and returns the per-pixel label
mask next to it (background or the digit's class), a small but real semantic-segmentation task built
from labelled digit images. It is data preparation, not the lesson: the segmentation metrics (pixel
accuracy, IoU) are written out in notebook 04 itself.
"""

from __future__ import annotations

import torch

from course_utils.validation import require_int, require_positive_int

BACKGROUND = 0  # mask value of background pixels; digit ``d`` gets mask value ``d + 1``


def segmentation_classes(num_digit_classes: int = 10) -> list[str]:
    """Names of the mask classes: ``["background", "0", "1", ..., "9"]`` (index = mask value)."""
    num_digit_classes = require_positive_int("num_digit_classes", num_digit_classes, example="10")
    return ["background"] + [str(d) for d in range(num_digit_classes)]


def _ink_box(image: torch.Tensor, threshold: int) -> tuple[int, int, int, int] | None:
    """Bounding box (top, bottom, left, right; bottom/right exclusive) of pixels >= threshold, or None."""
    rows = torch.nonzero((image >= threshold).any(dim=1)).flatten()
    cols = torch.nonzero((image >= threshold).any(dim=0)).flatten()
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def compose_canvases(
    images: torch.Tensor,
    labels: torch.Tensor,
    n_canvases: int,
    canvas_size: int = 64,
    digits_per_canvas: tuple[int, int] = (2, 4),
    threshold: int = 128,
    generator: torch.Generator | None = None,
    max_tries: int = 50,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste random digits onto blank canvases; return ``(canvases, masks)``, both ``[n_canvases, H, W]``.

    Args:
        images: uint8 digit images ``[N, h, w]`` (0-255, ink bright on a dark background, as MNIST).
        labels: int class of each image ``[N]``, values in ``[0, 10)`` (any non-negative int works).
        n_canvases: how many canvases to build.
        canvas_size: side of the square canvas in pixels (must hold at least one digit).
        digits_per_canvas: (min, max) digits per canvas, both inclusive.
        threshold: pixels of a digit at or above this value are labelled as that digit in the mask;
            fainter pixels (the blurry rim) stay background in the mask but are kept in the canvas.
        generator: a seeded ``torch.Generator`` for reproducible canvases (``None``: torch's global RNG).
        max_tries: placements tried per digit before it is skipped (digits never overlap).

    Each digit is cropped to the bounding box of its non-zero pixels and placed where that box does not overlap another
    digit's box, so the mask is unambiguous. Returns canvases as uint8 and masks as int64 with
    ``BACKGROUND`` (0) for background and ``label + 1`` for a digit pixel. Every canvas gets at least one digit.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor [N, H, W] (grayscale digits), got {shape}")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0-255), got {images.dtype}; convert with (x * 255).to(torch.uint8)")
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must be a 1-D tensor with one label per image ({len(images)}), got {tuple(labels.shape)}"
        )
    if len(images) == 0:
        raise ValueError("images is empty: pass at least one digit image")
    if int(labels.min()) < 0:
        raise ValueError("labels must be non-negative class indices")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}: use labels.long()")
    n_canvases = require_positive_int("n_canvases", n_canvases, example="100")
    canvas_size = require_positive_int("canvas_size", canvas_size, example="64")
    max_tries = require_positive_int("max_tries", max_tries, example="50")
    if not isinstance(digits_per_canvas, (tuple, list)) or len(digits_per_canvas) != 2:
        raise TypeError(f"digits_per_canvas must be a pair (min, max) such as (2, 4), got {digits_per_canvas!r}")
    low = require_int("digits_per_canvas[0]", digits_per_canvas[0], minimum=1, example="2")
    high = require_int("digits_per_canvas[1]", digits_per_canvas[1], minimum=1, example="4")
    if low > high:
        raise ValueError(f"digits_per_canvas must be (min, max) with 1 <= min <= max, got {digits_per_canvas}")
    if canvas_size < max(images.shape[1:]):
        raise ValueError(f"canvas_size {canvas_size} is smaller than a digit image {tuple(images.shape[1:])}")
    threshold = require_int("threshold", threshold, minimum=1, maximum=255, example="128 (a uint8 pixel value)")

    canvases = torch.zeros(n_canvases, canvas_size, canvas_size, dtype=torch.uint8)
    masks = torch.full((n_canvases, canvas_size, canvas_size), BACKGROUND, dtype=torch.int64)

    def randint(upper: int) -> int:  # uniform in [0, upper)
        return int(torch.randint(upper, (1,), generator=generator))

    for c in range(n_canvases):
        boxes: list[tuple[int, int, int, int]] = []
        wanted = low + randint(high - low + 1)
        for _ in range(wanted):
            index = randint(len(images))
            if not bool((images[index] >= threshold).any()):  # a blank image has nothing to label
                continue
            box = _ink_box(images[index], 1)  # every non-zero pixel, the faint rim included
            if box is None:
                continue
            top, bottom, left, right = box
            crop = images[index, top:bottom, left:right]
            h, w = crop.shape
            for _ in range(max_tries):
                y, x = randint(canvas_size - h + 1), randint(canvas_size - w + 1)
                if all(y >= y1 or y + h <= y0 or x >= x1 or x + w <= x0 for y0, y1, x0, x1 in boxes):
                    break
            else:
                continue  # no free spot: skip this digit
            boxes.append((y, y + h, x, x + w))
            region = canvases[c, y : y + h, x : x + w]
            torch.maximum(region, crop, out=region)
            masks[c, y : y + h, x : x + w][crop >= threshold] = int(labels[index]) + 1
        if not boxes:  # guarantee one digit (only reachable when every pick was blank)
            raise ValueError("could not place any digit: are the images all blank (below threshold)?")
    return canvases, masks
