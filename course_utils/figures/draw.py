"""Shared drawing pieces of the lessons' diagrams (``course_utils.figures``): a blank canvas in data units,
labelled boxes, arrows and notes, in one palette, so every diagram in the course looks like one family."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One palette for the course: inputs, parameters/weights, operations, outputs, highlights.
COLORS = {
    "input": "#dbeafe",
    "weight": "#fde68a",
    "op": "#e5e7eb",
    "output": "#bbf7d0",
    "highlight": "#fecaca",
    "accent": "#c7d2fe",
    "line": "#374151",
}


def canvas(width: float, height: float, scale: float = 0.9, title: str | None = None) -> tuple[Figure, Axes]:
    """A figure whose axes run from (0, 0) to (width, height) in data units, with no ticks or frame."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * scale, height * scale))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.text(width / 2, height - 0.3, title, ha="center", va="top", fontsize=13, weight="bold")
    return fig, ax


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str = "", color: str = "op",
        fontsize: float = 10, rounded: bool = True, **kwargs: Any) -> tuple[float, float]:
    """A labelled box with its lower-left corner at (x, y); returns its centre. ``color`` is a key of
    ``COLORS`` or any matplotlib colour."""
    from matplotlib.patches import FancyBboxPatch

    style = "round,pad=0.02,rounding_size=0.12" if rounded else "square,pad=0"
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=COLORS.get(color, color),
                                edgecolor=COLORS["line"], linewidth=1.2, **kwargs))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)
    return x + w / 2, y + h / 2


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "",
          color: str = "line", style: str = "-|>", curve: float = 0.0, fontsize: float = 9) -> None:
    """An arrow from ``start`` to ``end`` (data units), optionally curved and labelled at its middle."""
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, linewidth=1.2,
                                 color=COLORS.get(color, color), connectionstyle=f"arc3,rad={curve}",
                                 shrinkA=2, shrinkB=2))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, text, ha="center", va="center",
                fontsize=fontsize, backgroundcolor="white")


def note(ax: Axes, x: float, y: float, text: str, fontsize: float = 9, **kwargs: Any) -> None:
    """Plain explanatory text at (x, y), centred unless ``ha``/``va`` say otherwise."""
    kwargs.setdefault("ha", "center")
    kwargs.setdefault("va", "center")
    ax.text(x, y, text, fontsize=fontsize, **kwargs)


def grid(ax: Axes, x: float, y: float, values: list[list[Any]], cell: float = 0.5, color: str = "input",
         highlight: set[tuple[int, int]] | None = None, fontsize: float = 9) -> None:
    """A table of values (a matrix, a tensor's elements) drawn as square cells; row 0 on top. Cells listed in
    ``highlight`` as (row, column) get the highlight colour."""
    from matplotlib.patches import Rectangle

    rows = len(values)
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            face = COLORS["highlight"] if highlight and (r, c) in highlight else COLORS.get(color, color)
            left, bottom = x + c * cell, y + (rows - 1 - r) * cell
            ax.add_patch(Rectangle((left, bottom), cell, cell, facecolor=face, edgecolor=COLORS["line"]))
            ax.text(left + cell / 2, bottom + cell / 2, str(value), ha="center", va="center", fontsize=fontsize)
