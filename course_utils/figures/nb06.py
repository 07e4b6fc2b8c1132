"""Notebook 06's diagram: what ``pipeline("sentiment-analysis")`` does between a text and its label."""

from __future__ import annotations

from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@figure("pipeline_steps")
def pipeline_steps() -> Figure:
    """text -> tokenizer -> ids + mask -> model -> logits -> softmax + id2label -> label and score."""
    fig, ax = canvas(12.0, 4.2, scale=0.75)
    steps = [
        ("text", '"I love it!"', "input"),
        ("tokenizer", "[CLS] i love it ! [SEP]", "op"),
        ("ids + mask", "[101, 1045, 2293,\n 2009, 999, 102]\nmask [1 1 1 1 1 1]", "input"),
        ("model", "encoder + head\n(AutoModelFor...)", "weight"),
        ("logits", "[-1.9, 2.3]\none score per class", "output"),
        ("post-processing", "softmax:\n[0.01, 0.99]\nid2label:\npositive (0.99)", "op"),
    ]
    x = 0.15
    for i, (title, body, colour) in enumerate(steps):
        box(ax, x, 1.2, 1.75, 1.6, body, color=colour, fontsize=8)
        note(ax, x + 0.875, 3.15, title, fontsize=10, weight="bold")
        if i < len(steps) - 1:
            arrow(ax, (x + 1.78, 2.0), (x + 2.02, 2.0))
        x += 2.0
    note(ax, 3.1, 0.6, "same folder as the model: a tokenizer\nand a model always come as a pair", fontsize=9)
    note(ax, 9.1, 0.6, "the model never outputs probabilities:\nthe pipeline applies the softmax", fontsize=9)
    note(ax, 6.0, 3.85, 'pipeline("sentiment-analysis", model=folder) runs all of it in one call', fontsize=11)
    return fig
