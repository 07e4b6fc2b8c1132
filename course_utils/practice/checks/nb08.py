"""Checkers for notebook 08 (loading datasets): a batched ``map`` function, a ``map`` that changes the number of
rows, a whole preparation pipeline (filter, flatten, class labels, stratified split), and (find the bug) a
tokenizing map that must keep the labels."""

from __future__ import annotations

import contextlib
import functools
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator

from course_utils.practice.checks._common import random_sources
from course_utils.practice.grading import CheckResult, exercise, fail, require_callable, run_check, show

_WORDS = ["the", "lord", "said", "to", "moses", "and", "aaron", "go", "up", "into", "land", "of", "egypt", "rain",
          "happy", "sad", "day", "love", "hate"]
_TAGS = ["#blessed", "#monday", "#fail", "#love", "#news"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the datasets progress bars while the checker maps (and restore the learner's setting)."""
    import datasets

    was_on = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


def _texts(rng: random.Random, n: int) -> list[str]:
    texts = []
    for i in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(0, 9))]
        for _ in range(rng.choice([0, 0, 1, 2])):
            words.insert(rng.randint(0, len(words)), rng.choice(_TAGS))
        spaces = [rng.choice([" ", " ", "  ", "\t"]) for _ in words]
        texts.append("".join(s + w for s, w in zip(spaces, words)).strip() + f" t{i}" * (i % 3 == 0))
    return texts


# --- Exercise 1: a batched map function -----------------------------------------------------------------------
def _counts(text: str) -> tuple[int, int]:
    return len(text.split()), len(re.findall(r"#\w+", text))


@exercise("08", "add_counts")
def check_add_counts(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check a **batched** ``map`` function ``add_counts(batch)``: ``batch`` is a dict of columns (lists) with a
    ``"text"`` column; return ``{"n_words": [...], "n_hashtags": [...]}``, one value per row: the number of
    whitespace-separated words (``len(text.split())``) and of hashtags (``#`` followed by letters, as
    ``re.findall(r"#\\w+", text)``). Run with ``Dataset.map(add_counts, batched=True)`` at random batch sizes."""
    from datasets import Dataset

    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_add_counts(add_counts)")
        texts = _texts(rng, 3)
        sample: dict[str, list[str] | list[int]] = {"text": texts, "label": [0, 1, 2]}
        current["case"] = f"add_counts({sample})"
        got = fn({k: list(v) for k, v in sample.items()})
        want = {"n_words": [_counts(t)[0] for t in texts], "n_hashtags": [_counts(t)[1] for t in texts]}
        if not isinstance(got, dict) or any(not isinstance(got.get(k), (list, tuple)) for k in want):
            raise fail(current["case"], want, got, "a batched function gets a dict of LISTS and returns one: "
                       '{"n_words": [one count per text], "n_hashtags": [...]}')
        for _ in range(trials):
            texts = _texts(rng, rng.randint(1, 25))
            ds = Dataset.from_dict({"text": texts, "label": [rng.randint(0, 2) for _ in texts]})
            batch_size = rng.randint(1, 8)
            case = current["case"] = f"Dataset of {len(texts)} random texts .map(add_counts, batched=True, " \
                                     f"batch_size={batch_size})"
            with _quiet():
                mapped = ds.map(fn, batched=True, batch_size=batch_size)
            for column, position in (("n_words", 0), ("n_hashtags", 1)):
                want_column = [_counts(t)[position] for t in texts]
                got_column = list(mapped[column]) if column in mapped.column_names else "no such column"
                if got_column != want_column:
                    bad = next((i for i, (a, b) in enumerate(zip(got_column, want_column)) if a != b), 0)
                    raise fail(f"{case}; column {column!r}, row {bad}: {texts[bad]!r}", want_column[bad],
                               got_column[bad] if isinstance(got_column, list) else got_column,
                               "words: len(text.split()); hashtags: len(re.findall(r'#\\w+', text)); one value "
                               "for every text of the batch")
            if mapped.column_names[:2] != ["text", "label"]:
                raise fail(case, "the old columns kept", mapped.column_names, "return only the new columns")

    return run_check("add_counts (batched map)", trials, body)


# --- Exercise 2: a map that changes the number of rows ----------------------------------------------------------
def _chunks(text: str, size: int) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


@exercise("08", "chunk_words")
def check_chunk_words(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``chunk_words(batch, size)``, a batched ``map`` function that returns **more rows than it got**:
    ``{"chunk": [...]}`` with every text of ``batch["text"]`` cut into pieces of ``size`` words (the last piece
    of a text may be shorter; a text without words gives no piece; words joined by one space), in order. Run as
    ``ds.map(functools.partial(chunk_words, size=k), batched=True, remove_columns=ds.column_names)``."""
    from datasets import Dataset

    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_chunk_words(chunk_words)")
        for _ in range(trials):
            texts = _texts(rng, rng.randint(1, 12))
            size, batch_size = rng.randint(1, 4), rng.randint(1, 6)
            ds = Dataset.from_dict({"text": texts, "id": list(range(len(texts)))})
            case = current["case"] = (f"chunk_words with size={size} over {texts[:3]}... ({len(texts)} texts), "
                                      f"batch_size={batch_size}")
            with _quiet():
                mapped = ds.map(functools.partial(fn, size=size), batched=True, batch_size=batch_size,
                                remove_columns=ds.column_names)
            want = [piece for text in texts for piece in _chunks(text, size)]
            got = list(mapped["chunk"]) if "chunk" in mapped.column_names else f"columns {mapped.column_names}"
            if got != want:
                flat = isinstance(got, list) and all(isinstance(piece, str) for piece in got)
                hint = ("keep the last, shorter piece of each text" if flat and len(got) < len(want)
                        else "one row per piece: a flat list of strings over all the texts of the batch, "
                        "\" \".join(words[i : i + size]) for i in range(0, len(words), size)")
                raise fail(case, show(want, 200), show(got, 200), hint)

    return run_check("chunk_words (a map that adds rows)", trials, body)


# --- Exercise 3: a preparation pipeline -------------------------------------------------------------------------
def _tweets(rng: random.Random) -> list[dict]:
    rows = []
    for text in _texts(rng, rng.randint(40, 90)):
        text = text + rng.choice(["", "", " #extra"])
        rows.append({"text": text, "sentiment": rng.choice(["negative", "neutral", "positive"]),
                     "meta": {"chars": len(text), "hashtags": _counts(text)[1]}})
    return rows


@exercise("08", "prepare")
def check_prepare(fn: Callable, trials: int = 3, seed: int | None = None) -> CheckResult:
    """Check ``prepare(ds, seed)``: from a ``Dataset`` with columns ``text``, ``sentiment`` (a string) and ``meta``
    (a struct with ``chars`` and ``hashtags``), return a ``DatasetDict`` with a ``"train"`` and a ``"test"``
    split that together hold exactly the rows with at least one hashtag; ``meta`` flattened into ``meta.chars``
    and ``meta.hashtags``; ``sentiment`` a ``ClassLabel``; the test split 20% of the rows, **stratified** (each
    sentiment about 20% in the test split)."""
    from datasets import ClassLabel, Dataset, DatasetDict

    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_prepare(prepare)")
        for _ in range(trials):
            rows = _tweets(rng)
            ds = Dataset.from_list(rows)
            run_seed = rng.randrange(1000)
            case = current["case"] = f"prepare(a Dataset of {len(rows)} random tweets, seed={run_seed})"
            with _quiet():
                got = fn(ds, run_seed)
            if not isinstance(got, DatasetDict) or sorted(got) != ["test", "train"]:
                raise fail(case, "a DatasetDict with 'train' and 'test'", type(got).__name__ if not isinstance(
                    got, dict) else sorted(got), "ds.train_test_split(...) returns one")
            kept = [r for r in rows if r["meta"]["hashtags"] > 0]
            for name, split in got.items():
                if "meta" in split.column_names or "meta.hashtags" not in split.column_names:
                    raise fail(f"{case}['{name}'].column_names", "meta.chars and meta.hashtags (flattened)",
                               split.column_names, "ds.flatten() turns the struct into top-level columns")
                if not isinstance(split.features["sentiment"], ClassLabel):
                    raise fail(f"{case}['{name}'].features['sentiment']", "a ClassLabel",
                               repr(split.features["sentiment"]), "ds.class_encode_column('sentiment')")
            labels = got["train"].features["sentiment"]
            decoded = Counter((t, labels.int2str(s)) for split in got.values()
                              for t, s in zip(split["text"], split["sentiment"]))
            want = Counter((r["text"], r["sentiment"]) for r in kept)
            if decoded != want:
                missing, extra = len(want - decoded), len(decoded - want)
                raise fail(case, f"the {len(kept)} rows with hashtags > 0, each once, with its sentiment",
                           f"{sum(decoded.values())} rows ({missing} missing, {extra} unexpected)",
                           "filter on r['meta']['hashtags'] > 0 (before flatten) or r['meta.hashtags'] > 0 (after)")
            n_test = len(got["test"])
            if abs(n_test - 0.2 * len(kept)) > 1:
                raise fail(case, f"about {0.2 * len(kept):.1f} test rows (20%)", n_test, "test_size=0.2")
            total = Counter(labels.int2str(s) for split in got.values() for s in split["sentiment"])
            in_test = Counter(labels.int2str(s) for s in got["test"]["sentiment"])
            for sentiment, count in total.items():
                if abs(in_test[sentiment] - 0.2 * count) > 1.5:
                    raise fail(case, f"about 20% of the {count} {sentiment!r} rows in the test split",
                               in_test[sentiment], "stratify: train_test_split(..., stratify_by_column='sentiment')")

    return run_check("prepare (filter, flatten, ClassLabel, stratified split)", trials, body)


# --- Exercise 4 (find the bug): tokenize for training, labels kept --------------------------------------------
def _fake_tokenize(texts: list[str]) -> dict[str, list[list[int]]]:
    """A stand-in for a tokenizer called on a batch of texts: one id per word (its length), and a mask of ones."""
    ids = [[len(word) for word in text.split()] or [0] for text in texts]
    return {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}


@exercise("08", "tokenize_for_training")
def check_tokenize_for_training(fn: Callable, trials: int = 10, seed: int | None = None) -> CheckResult:
    """Check ``tokenize_for_training(ds, tokenize)``: ``ds`` has a ``"text"`` column, a ``"label"`` column and other
    columns (in any order); ``tokenize(list_of_texts)`` returns a dict of lists, as a tokenizer does. Return a
    dataset of the same rows, in the same order, whose columns are exactly the tokenizer's outputs plus
    ``"label"``: everything a model takes, nothing it cannot (strings, bookkeeping columns)."""
    from datasets import Dataset

    rng, _ = random_sources(seed)

    def body(current: dict[str, str]) -> None:
        require_callable(fn, "function", "check_tokenize_for_training(tokenize_for_training)")
        for _ in range(trials):
            texts = _texts(rng, rng.randint(1, 20))
            columns = {"text": texts, "label": [rng.randint(0, 2) for _ in texts],
                       "chars": [len(t) for t in texts], "user": [f"user{rng.randint(1, 9)}" for _ in texts]}
            extra = rng.sample(["chars", "user"], rng.randint(1, 2))
            names = ["text", "label", *extra]
            rng.shuffle(names)
            ds = Dataset.from_dict({name: columns[name] for name in names})
            case = current["case"] = f"tokenize_for_training(a Dataset with columns {names} and {len(texts)} rows, " \
                                     "tokenize)"
            with _quiet():
                got = fn(ds, _fake_tokenize)
            want_columns = {"input_ids", "attention_mask", "label"}
            if not isinstance(got, Dataset):
                raise fail(case, "a Dataset", type(got).__name__, "return the dataset that ds.map(...) gives")
            have = set(got.column_names)
            if "label" not in have:
                raise fail(case, sorted(want_columns), got.column_names,
                           "the label column is gone: remove_columns=ds.column_names removed it too; remove only "
                           "the columns a model cannot take, and keep 'label'")
            if not {"input_ids", "attention_mask"} <= have:
                raise fail(case, sorted(want_columns), got.column_names,
                           "map with the tokenizer, batched: ds.map(lambda batch: tokenize(batch['text']), "
                           "batched=True, ...)")
            if have != want_columns:
                left = sorted(have - want_columns)
                raise fail(case, sorted(want_columns), got.column_names,
                           f"{left} still there: a DataLoader cannot make tensors of strings, and a model takes "
                           "no such argument; remove every old column but 'label'")
            if list(got["label"]) != columns["label"] or list(got["input_ids"]) != _fake_tokenize(texts)["input_ids"]:
                raise fail(case, "the same rows in the same order, each with its own label",
                           f"labels {show(list(got['label']), 80)}", "map keeps the rows and their order: no "
                           "shuffle, filter or sort here")

    return run_check("tokenize_for_training (labels kept)", trials, body)
