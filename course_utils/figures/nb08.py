"""Diagrams of notebook 08 (loading datasets): how a batched ``map`` walks an Arrow table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ROWS = [("good morning", 2), ("awful day", 0), ("ok I guess", 1), ("love it", 2), ("so tired", 0), ("meh", 1)]
IDS = [[101, 2204, 102], [101, 9643, 102], [101, 7929, 102], [101, 2293, 102], [101, 2061, 102], [101, 2033, 102]]


def _table(ax: Axes, x: float, y_top: float, header: list[str], widths: list[float], rows: list[list[str]],
           colors: list[str]) -> None:
    """A table with a header row; column ``c`` drawn in ``colors[c]``."""
    h = 0.42
    left = x
    for name, w in zip(header, widths):
        box(ax, left, y_top - h, w, h, name, color="op", fontsize=9, rounded=False)
        left += w
    for r, row in enumerate(rows):
        left = x
        for c, (value, w) in enumerate(zip(row, widths)):
            box(ax, left, y_top - h * (r + 2), w, h, value, color=colors[c], fontsize=8.5, rounded=False)
            left += w


@figure("dataset_map")
def dataset_map() -> Figure:
    """An Arrow table of 6 rows; map(fn, batched=True, batch_size=3) hands fn two batches (a dict of lists per
    batch); fn's returned columns are added to the table, and remove_columns decides what old columns stay."""
    fig, ax = canvas(12.6, 5.0, scale=0.7)
    rows = [[t, str(label)] for t, label in ROWS]
    note(ax, 1.75, 4.85, "Arrow table (memory-mapped)", fontsize=9.5, weight="bold")
    _table(ax, 0.2, 4.65, ["text", "label"], [2.2, 0.9], rows, ["input", "input"])
    # the two batches
    for k, (top, bottom) in enumerate([(4.23, 2.97), (2.97, 1.71)]):
        ax.plot([3.45, 3.6, 3.6, 3.45], [top - 0.02, top - 0.02, bottom + 0.02, bottom + 0.02],
                color=COLORS["line"], linewidth=1.2)
        note(ax, 4.05, (top + bottom) / 2, f"batch {k + 1}", fontsize=9)
    # what fn sees and returns
    box(ax, 4.7, 2.55, 3.1, 1.95, "", color="accent")
    note(ax, 6.25, 4.25, "fn(batch), batch 1:", fontsize=9.5, weight="bold")
    note(ax, 6.25, 3.75, 'gets {"text": [3 texts],\n"label": [2, 0, 1]}', fontsize=8.5)
    note(ax, 6.25, 3.0, 'returns {"input_ids":\n[[101, 2204, 102], ...]}', fontsize=8.5)
    arrow(ax, (4.35, 3.6), (4.7, 3.6))
    note(ax, 6.25, 2.05, "a dict of LISTS in, a dict of\nlists out (batched=True)", fontsize=8.5, color="#4b5563")
    arrow(ax, (7.8, 3.6), (8.25, 3.6))
    # the result
    note(ax, 10.35, 4.85, "result: old columns + new ones", fontsize=9.5, weight="bold")
    result = [[t, lab, str(ids)[1:-1].replace(" ", "")] for (t, lab), ids in zip(rows, IDS)]
    _table(ax, 8.3, 4.65, ["text", "label", "input_ids"], [1.45, 0.6, 1.7], result, ["input", "input", "output"])
    note(ax, 10.35, 1.3, "remove_columns=[...] drops old columns:\ndrop 'text', keep 'label'", fontsize=8.5,
         color="#b91c1c")
    note(ax, 6.3, 0.55, "ds.map(fn, batched=True, batch_size=3): each batch is read from the table, passed to fn, "
         "and its new columns written back as Arrow (ids made up)", fontsize=8.5)
    return fig
