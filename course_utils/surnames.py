"""Surnames by language from faker's locale lists (PyPI ``faker`` + ``unidecode``): notebook 05's data."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_utils.dependencies import require_package
from course_utils.errors import UnknownNameError
from course_utils.validation import require_fractions_leave_room, require_int, require_seed, require_str_list

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
    seed: int = 0,
    min_names: int = 300,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    languages: Sequence[str] | None = None,
) -> SurnameSplits:
    """Surnames by language from faker's locale lists, transliterated to ASCII with unidecode.

    Names found in more than one language are dropped (their label would be a coin toss); languages with
    fewer than ``min_names`` names are left out. Splits are stratified by language: every language gets at
    least one name in validation and in test and keeps most in train, so ``val_fraction + test_fraction`` must
    stay below 1. ``languages`` keeps only those (a non-empty list; each must be one that has enough names, an
    unknown one raises an error listing the choices). Every argument is checked before any list is read.
    """
    seed = require_seed("seed", seed)
    min_names = require_int("min_names", min_names, minimum=3, example="300 (one name each for train, "
                            "validation and test at the very least)")
    val_fraction, test_fraction = require_fractions_leave_room(
        {"val_fraction": val_fraction, "test_fraction": test_fraction})
    if languages is not None:
        languages = require_str_list("languages", languages, example="['German', 'Greek'] (or None for all)")
        for language in languages:
            if language not in SURNAME_LOCALES:
                raise UnknownNameError("language", language, list(SURNAME_LOCALES))
    require_package("faker")
    require_package("unidecode")
    require_package("faker.providers.person", "faker", purpose="its person providers: pip install --upgrade faker")
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
    available = sorted({lang for _, lang in pairs})
    if languages is None:
        languages = available
    else:
        for language in languages:
            if language not in available:
                raise UnknownNameError(f"language (with at least min_names={min_names} names)", language, available)
        languages = sorted(set(languages))
    return SurnameSplits(*stratified_split(pairs, languages, val_fraction, test_fraction, seed), languages=languages)


def stratified_split(
    pairs: Sequence[tuple[str, str]], languages: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Train, validation and test lists of the (name, language) ``pairs`` of ``languages``, split per language.

    Each language gives ``round(n * fraction)`` (at least 1) of its n pairs to validation and to test and the
    rest, at least 1, to train; each list is then shuffled. The same arguments always give the same lists.
    """
    rng = np.random.default_rng(seed)
    splits: tuple[list, list, list] = ([], [], [])
    for language in languages:
        group = [p for p in pairs if p[1] == language]
        order = rng.permutation(len(group))
        n_val, n_test = max(1, round(len(group) * val_fraction)), max(1, round(len(group) * test_fraction))
        if len(group) - n_val - n_test < 1:
            raise ValueError(f"{language} has {len(group)} names: too few for val_fraction={val_fraction:g} and "
                             f"test_fraction={test_fraction:g} to leave any for training; lower the fractions")
        parts = np.split(order, [len(group) - n_val - n_test, len(group) - n_test])
        for split, idx in zip(splits, parts):
            split.extend(group[i] for i in idx)
    for split in splits:
        rng.shuffle(split)
    return splits
