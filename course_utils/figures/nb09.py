"""Diagrams of notebook 09 (a custom tokenizer): BPE merges applied to a word, step by step."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from course_utils.figures import figure
from course_utils.figures.draw import COLORS, arrow, box, canvas, note

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The toy corpus of Sennrich et al. (2016), the paper that brought BPE to NLP: word -> count.
TOY_CORPUS = {"low": 5, "lower": 2, "newest": 6, "widest": 3}


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if symbols[i:i + 2] == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def toy_merges(corpus: dict[str, int], num_merges: int) -> list[tuple[tuple[str, str], int]]:
    """BPE on ``corpus``: (pair, count) of each merge, most frequent pair first, ties broken by token ids (the
    characters sorted, then merged tokens in order), as the ``tokenizers`` trainer does."""
    ids = {ch: i for i, ch in enumerate(sorted({ch for word in corpus for ch in word}))}
    words = {tuple(word): count for word, count in corpus.items()}
    merges = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += count
        if not pairs:
            break
        top = max(pairs.values())
        best = min((p for p, n in pairs.items() if n == top), key=lambda p: (ids[p[0]], ids[p[1]]))
        ids.setdefault(best[0] + best[1], len(ids))
        merges.append((best, top))
        words = {_merge(symbols, best): count for symbols, count in words.items()}
    return merges


@figure("bpe_merges")
def bpe_merges() -> Figure:
    """Left: the first merges learned from a toy corpus, with their counts. Right: the unseen word "lowest"
    tokenized by applying them in order, one row per merge that changes it."""
    merges = toy_merges(TOY_CORPUS, 6)
    fig, ax = canvas(11.0, 5.4, scale=0.75)
    corpus = ", ".join(f"{w} ×{n}" for w, n in TOY_CORPUS.items())
    note(ax, 2.2, 5.05, "corpus (word × count)", fontsize=10, weight="bold")
    note(ax, 2.2, 4.65, corpus, fontsize=9.5)
    note(ax, 2.2, 4.1, "merges learned, in order", fontsize=10, weight="bold")
    for k, ((a, b), count) in enumerate(merges):
        note(ax, 0.35, 3.6 - 0.5 * k, f"{k + 1}.  {a} + {b} → {a + b}", fontsize=10, ha="left")
        note(ax, 4.05, 3.6 - 0.5 * k, f"count {count}", fontsize=9, ha="right", color="#4b5563")
    note(ax, 2.2, 0.35, "ties: smallest pair of token ids first", fontsize=8.5, color="#4b5563")
    ax.plot([4.5, 4.5], [0.2, 5.2], color=COLORS["op"], linewidth=1.5)
    # the word, merge by merge
    note(ax, 7.75, 5.05, 'an unseen word, "lowest", tokenized with these merges', fontsize=10, weight="bold")
    symbols = tuple("lowest")
    rows: list[tuple[tuple[str, ...], str, str | None]] = [(symbols, "characters", None)]
    for k, (pair, _) in enumerate(merges):
        merged = _merge(symbols, pair)
        if merged != symbols:
            symbols = merged
            rows.append((symbols, f"merge {k + 1}", pair[0] + pair[1]))
    unit = 0.42
    for r, (row, label, new) in enumerate(rows):
        y = 4.2 - 0.8 * r
        note(ax, 5.35, y + 0.25, label, fontsize=9, color="#4b5563")
        x = 6.1
        for symbol in row:
            width = unit * len(symbol)
            box(ax, x, y, width, 0.5, symbol, color="highlight" if symbol == new else "input", fontsize=11,
                rounded=False)
            x += width + 0.12
        if r:
            arrow(ax, (9.7, y + 1.0), (9.7, y + 0.55))
    note(ax, 7.75, 0.35, "the merge list, applied in order, is the trained model",
         fontsize=8.5, color="#4b5563")
    return fig
